"""Interviewers watching sessions: every stored analysis reaches every watcher of its session.

A session is known by its organization and its id together (``SessionKey``), in memory and in announcements
(``{organization}/{session_id}:{change}``), so two organizations' sessions of the same id never meet.

Analyses are announced by NOTIFY from whichever replica stored them; the replica reads each
announced analysis once and hands it to its watchers, in the order announced. The replica that stored an
analysis hands it to its own watchers at once, and skips the announcement when it comes back. Each watcher
has a bounded queue: one that falls behind has its backlog dropped and is told to resync (a fresh snapshot), so a slow
watcher never slows the others or the analysis.

A watcher's meter only moves forward in the call: an analysis of an earlier point that finishes after a newer one
(overlapping triggers) is not sent as the current reading; the watcher gets a fresh snapshot instead, where it
has its place in the history and its suggestions are open.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

from prometheus_client import Counter, Gauge

from analysis_svc.domain.model import RiskAlert, SessionRisk, Snapshot, StoredAnalysis, StoredAudit, StoredSuggestion
from analysis_svc.service_layer.analyses import Analyses
from analysis_svc.service_layer.audits import Audits
from analysis_svc.service_layer.session_risks import SessionRisks

log = logging.getLogger("analysis.watchers")

WATCHERS = Gauge("sparring_analysis_watchers", "Interviewer watch streams held by this replica.")
WATCH_EVENTS = Counter("sparring_analysis_watch_events_total", "Events queued for watchers.", ("kind",))
WATCH_RESYNCS = Counter("sparring_analysis_watch_resyncs_total", "Watchers that fell behind and were resynced.")

BACKLOG = 64
# Analyses recently handed to watchers, so the one path (stored here, or announced) skips what the other did.
RECENT_ANALYSES = 10_000
RESYNC = object()  # queued in place of a dropped backlog
STOP = object()  # the server is shutting down


class SessionKey(NamedTuple):
    organization: str
    session_id: str


@dataclass(eq=False)
class Watcher:
    session: SessionKey
    events: asyncio.Queue[object] = field(default_factory=lambda: asyncio.Queue(maxsize=BACKLOG + 1))

    def offer(self, event: object) -> None:
        if self.events.qsize() >= BACKLOG and event is not STOP:
            self._replace_backlog(RESYNC)
            WATCH_RESYNCS.inc()
            return
        self.events.put_nowait(event)

    def _replace_backlog(self, event: object) -> None:
        while not self.events.empty():
            self.events.get_nowait()
        self.events.put_nowait(event)


@dataclass
class Shown:
    """What one watcher has been shown: the analyses it holds, and the trigger sequence its meter stands at."""

    analysis_ids: set[str]
    up_to_sequence: int

    @classmethod
    def of(cls, snapshot: Snapshot) -> Shown:
        return cls({point.analysis_id for point in snapshot.history},
                   snapshot.latest.up_to_sequence if snapshot.latest else 0)

    def has(self, analysis: StoredAnalysis) -> bool:
        return analysis.id in self.analysis_ids

    def is_late(self, event: object) -> bool:
        """An analysis not shown yet, of an earlier point than the meter shown: sending it would move the meter back."""
        return isinstance(event, StoredAnalysis) and not self.has(event) and event.up_to_sequence < self.up_to_sequence

    def add(self, analysis: StoredAnalysis) -> None:
        self.analysis_ids.add(analysis.id)
        self.up_to_sequence = analysis.up_to_sequence


class Watchers:
    def __init__(self, analyses: Analyses, audits: Audits, risks: SessionRisks) -> None:
        self._analyses = analyses
        self._audits = audits
        self._risks = risks
        self._by_session: dict[SessionKey, set[Watcher]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Per session, the hand-over of its latest announcement.
        self._last_announced: dict[SessionKey, asyncio.Task[None]] = {}
        self._handed: OrderedDict[tuple[SessionKey, str], None] = OrderedDict()

    def watch(self, organization: str, session_id: str) -> Watcher:
        watcher = Watcher(SessionKey(organization, session_id))
        self._by_session.setdefault(watcher.session, set()).add(watcher)
        WATCHERS.inc()
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        watchers = self._by_session.get(watcher.session)
        if watchers is not None and watcher in watchers:
            watchers.discard(watcher)
            WATCHERS.dec()
            if not watchers:
                del self._by_session[watcher.session]

    def stop_all(self) -> None:
        for watchers in self._by_session.values():
            for watcher in watchers:
                watcher._replace_backlog(STOP)

    def resync_all(self) -> None:
        """After the LISTEN connection came back: announcements may have been missed."""
        for watchers in self._by_session.values():
            for watcher in watchers:
                watcher._replace_backlog(RESYNC)

    def _first_time(self, session: SessionKey, analysis_id: str) -> bool:
        key = (session, analysis_id)
        if key in self._handed:
            return False
        self._handed[key] = None
        if len(self._handed) > RECENT_ANALYSES:
            self._handed.popitem(last=False)
        return True

    def stored_here(self, organization: str, analysis: StoredAnalysis) -> None:
        """An analysis this replica just stored: its watchers here get it now, not after the NOTIFY round trip."""
        session = SessionKey(organization, analysis.session_id)
        if session in self._by_session and self._first_time(session, analysis.id):
            for watcher in list(self._by_session[session]):
                watcher.offer(analysis)
                WATCH_EVENTS.labels("analysis").inc()

    def on_change(self, payload: str) -> None:
        # Session ids and changes hold no '/', an organization may: it is everything before the last one.
        organization, _, announced = payload.rpartition("/")
        session_id, _, change = announced.partition(":")
        session = SessionKey(organization, session_id)
        if session in self._by_session:
            if ":" not in change and not self._first_time(session, change):
                return  # an analysis already handed over by stored_here
            task = asyncio.create_task(self._publish(session, change, self._last_announced.get(session)))
            self._last_announced[session] = task
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._handed_over, session))

    def _handed_over(self, session: SessionKey, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._last_announced.get(session) is task:
            del self._last_announced[session]

    async def _publish(self, session: SessionKey, change: str, previous: asyncio.Task[None] | None) -> None:
        """``change`` is an analysis id, ``suggestion:{id}`` (applied or dismissed), ``audit:{id}``, ``risk:{score}``
        or ``risk_alert:``; it reaches the watchers after the ``previous`` announcement of the session, so in the
        order they were stored, though the reads run at once."""
        kind, _, _ = change.partition(":")
        _, _, suggestion_id = change.partition("suggestion:")
        _, _, audit_id = change.partition("audit:")
        event: StoredAnalysis | StoredSuggestion | StoredAudit | SessionRisk | RiskAlert | None
        organization, session_id = session
        try:
            if kind in ("risk", "risk_alert"):  # the risk as it is now: a later rise is sent with its own event
                event = await self._risks.of_session(organization, session_id)
                if event is not None and kind == "risk_alert":
                    event = RiskAlert(event)
            elif suggestion_id:
                event = await self._analyses.stored_suggestion(organization, session_id, suggestion_id)
            elif audit_id:
                event = await self._audits.get(organization, audit_id)
            else:
                event = await self._analyses.stored_analysis(organization, session_id, change)
        except Exception as error:
            log.warning("reading announced change %s of sessions/%s failed: %s", change, session_id, error)
            for watcher in self._by_session.get(session, ()):
                watcher._replace_backlog(RESYNC)
            return
        if previous is not None:
            await asyncio.wait((previous,))
        if event is None:
            return
        label = kind if kind in ("risk", "risk_alert", "suggestion", "audit") else "analysis"
        for watcher in list(self._by_session.get(session, ())):
            watcher.offer(event)
            WATCH_EVENTS.labels(label).inc()
