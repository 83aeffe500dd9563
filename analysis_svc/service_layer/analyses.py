"""Live analyses: run the engine on a session's recent window, store the reading, read them back."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from analysis_svc.domain import running
from analysis_svc.domain.content_findings import (
    ContentFinding,
    finding_suggestion,
    merged,
    rule_findings,
    unscreened_candidate_turns,
)
from analysis_svc.domain.conversation import ConversationMetrics, TurnTexts, measure
from analysis_svc.domain.language import detected_language
from analysis_svc.domain.model import (
    SESSION_END,
    EndedCall,
    Judgement,
    LiveWindow,
    NewAnalysis,
    ReadingState,
    SayMeterArc,
    Snapshot,
    StoredAnalysis,
    StoredSuggestion,
    Window,
    metrics_record,
)
from analysis_svc.domain.phrasebook import phrases_for, texts_for
from analysis_svc.domain.suggestions import not_made, stage_for
from analysis_svc.domain.switching import LiveMoment
from analysis_svc.domain.tracks import call_tally
from analysis_svc.domain.trend import NO_ALERT, AlertChange, ScoreAt, Signals, alert_at, signals_since, trend_of
from analysis_svc.service_layer.engines import NOT_CONFIGURED, Engines
from analysis_svc.service_layer.ports import (
    AnalysisEngine,
    CallContexts,
    Database,
    Moderation,
    SafetyPolicies,
    TranscriptReader,
    understands,
)
from analysis_svc.service_layer.session_access import READERS, REQUESTERS, SessionAccess, require_organization
from analysis_svc.service_layer.switching_rules import SwitchingRules, handoff_suggestion
from calls.turns import DEFAULT_WINDOW, Turn
from svckit.cache import InvalidatedCache
from svckit.errors import FailedPrecondition, NotFound, Violations
from svckit.identity import Principal
from svckit.metrics import Phases
from svckit.openai_json import EngineFailure, deadline_of, within_deadline
from svckit.pagination import PageTokens, page_size
from svckit.usecase import Page

MAX_WINDOW = 200
MAX_TRIGGER_ID = 100
# A reading whose predecessors were missed reads back at most this far to bring the call's measures up to date; the
# messages before that are left out of them (counted), so no reading costs more than this many messages.
MAX_CATCH_UP = 200
MAX_SEQUENCE = 2**63 - 1
FINAL_TRIGGER = "session-end"
# The live readings of a call its episode's Say Meter arc holds at most (the first ones).
MAX_ARC_READINGS = 200
# Sessions whose settled language is kept (``domain.language``), and for how long an entry is trusted.
CALL_LANGUAGES_KEPT = 10_000
CALL_LANGUAGE_MAX_AGE_SECONDS = 3600.0
# Sessions whose last window's texts, as the measures read them, are kept for their next reading: about 60 KB each
# (20 messages), so 120 MB at most.
READ_TURNS_KEPT = 2_000

log = logging.getLogger("analysis.analyses")

CONTENT_FINDINGS = Counter("sparring_analysis_content_findings_total",
                           "What the personas' input filters found in candidates' messages, by category.",
                           ("category",))
MODERATION_CHECKS = Counter("sparring_analysis_moderation_checks_total",
                            "Moderation checks of candidates' messages by the model, by result: used, or the "
                            "failure's reason when the rules answered alone.", ("result",))

LOSING_PROSPECT_ALERTS = Counter("sparring_analysis_losing_prospect_alerts_total",
                                 "Live readings that raised or cleared the \"losing the prospect\" alert, by change.",
                                 ("change",))

READING_WINDOWS = Counter("sparring_analysis_reading_windows_total",
                          "Live readings by where their window came from: sent with the request by the transcript "
                          "service, read back from it, or read back from the last reading kept (caught_up, whatever "
                          "the request carried).", ("source",))

READING_PHASE_SECONDS = Histogram(
    "sparring_analysis_reading_phase_seconds",
    "Time a live reading spent in each phase: state (the trigger's lookup and what the reading builds on, one read), "
    "window (read back, when none was sent or readings were missed), context (the curveballs' persona and "
    "scenario), judging (engine, rules, screening) and storing (the insert's transaction up to its commit).",
    ("phase",), buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))

CALL_MEASURE_GAPS = Counter("sparring_analysis_call_measure_gaps_total",
                            "Readings whose call measures leave out messages no reading reached (over the catch-up "
                            "bound).")


@dataclass(frozen=True)
class NewReading:
    """A reading to take: where in the call, the window the engine is shown, and the whole call's measures."""

    trigger_id: str
    source: str
    up_to_sequence: int
    blueprint: str
    live: LiveWindow
    measures: ConversationMetrics
    persona: str = ""  # the persona playing, for a live reading's switching rules; '' for the final reading
    findings: tuple[ContentFinding, ...] = ()
    handoff_open: bool = False  # a handoff suggested earlier is still open: no rule raises another
    earlier: tuple[ScoreAt, ...] = ()  # the last live readings, latest first (domain.trend)
    alert_on: bool = False  # the "losing the prospect" alert was on at the latest of them
    signals: Signals | None = None  # what the messages since the previous reading said; None at the final reading


class Analyses:
    """A session's analyses and suggestions, read and written within the caller's organization, by the roles and the
    session's interviewer that ``session_access`` lets in."""

    def __init__(self, database: Database, transcripts: TranscriptReader, page_tokens: PageTokens,
                 engines: Engines[AnalysisEngine], access: SessionAccess, contexts: CallContexts,
                 rules: SwitchingRules | None = None, policies: SafetyPolicies | None = None,
                 moderation: Moderation | None = None) -> None:
        """``policies``: the personas' safety policies, whose input filters screen the candidate's messages; with
        none, nothing is screened. ``moderation``: a model that screens them too, besides the rules."""
        self._database = database
        self._contexts = contexts
        self._rules = rules
        self._policies = policies
        self._moderation = moderation
        self._transcripts = transcripts
        self._tokens = page_tokens
        self._engines = engines
        self._access = access
        # Nothing invalidates a call's language: it is kept from the reading that settled it, up to its maximum age.
        self._languages: InvalidatedCache[tuple[str, str], str] = InvalidatedCache(
            "call_languages", CALL_LANGUAGES_KEPT, CALL_LANGUAGE_MAX_AGE_SECONDS)
        self._languages.enable()
        # A turn's text reads the same at every reading: the next reading of a session reads only its new messages
        # (and those read with another language's phrases, before the call's language settled, again).
        self._read_turns: InvalidatedCache[tuple[str, str], TurnTexts] = InvalidatedCache("read_turns",
                                                                                            READ_TURNS_KEPT)
        self._read_turns.enable()
        # The analyses this replica is storing, each resolved with it once committed (None if it was not).
        self._storing: dict[str, asyncio.Future[StoredAnalysis | None]] = {}

    async def admit_watcher(self, caller: Principal, session_id: str) -> None:
        """Admins and the session's interviewer may watch it; NotFound unless it is a session of their
        organization."""
        await self._access.require_watcher(caller, session_id)

    async def request_analysis(self, caller: Principal, session_id: str, up_to_sequence: int, trigger_id: str,
                               source: str, window_size: int, engine: str = "",
                               budget_seconds: float | None = None,
                               sent: Window | None = None) -> tuple[StoredAnalysis, bool]:
        """Analyses the window ending at ``up_to_sequence``; a repeated trigger returns the stored one.

        ``budget_seconds`` is the caller's remaining deadline: the model gets what is left of it, less a reserve
        for storing, so a slow model still ends in a stored (local) analysis rather than a cancelled call.
        ``sent``: the window the transcript service sent with the request (checked), read back when None."""
        deadline = deadline_of(budget_seconds)
        engine = engine or self._engines.default
        _check_request(trigger_id, up_to_sequence, window_size, self._engines.configured(engine))
        organization = require_organization(caller)
        await self._access.require(caller, session_id, REQUESTERS)
        phase = Phases(READING_PHASE_SECONDS)
        state = await self._reading_state(organization, session_id, trigger_id, up_to_sequence or MAX_SEQUENCE)
        phase.end("state")
        if state.existing is not None:
            return await self.stored_analysis(organization, session_id, state.existing), True
        started = time.perf_counter()
        size = window_size or DEFAULT_WINDOW
        if sent is None:
            window, window_source = await self._transcripts.window(organization, session_id, up_to_sequence, size), \
                "read_back"
        else:
            window, window_source = sent, "sent"
        phase.end("window")
        # The window names the persona and the scenario: no read of the session for them.
        context = await self._contexts.context(organization, session_id, window)
        phase.end("context")
        _check_window(session_id, up_to_sequence, window)
        kept = state.kept
        kept_up_to = kept.up_to_sequence if kept else 0
        if window.turns[0].sequence > kept_up_to + 1 and len(window.turns) == size:
            # Readings were missed (or this is a session's first): read back to where the kept measures end.
            window = await self._transcripts.window(
                organization, session_id, window.turns[-1].sequence,
                min(MAX_CATCH_UP, window.turns[-1].sequence - kept_up_to + 1))  # and one turn of context
            window_source = "caught_up"
            if window.turns[0].sequence > kept_up_to + 1:
                CALL_MEASURE_GAPS.inc()
            phase.end("window")
        READING_WINDOWS.labels(window_source).inc()
        shown = window.turns[-size:]
        language = self._language(organization, session_id, shown)
        read = self._read_turns.get((organization, session_id)) or {}
        measures = running.advance(kept.measures if kept else None, kept_up_to, window.turns, read, language)
        self._read_turns.put((organization, session_id), {turn.text: read[turn.text] for turn in shown},
                             self._read_turns.generation)
        live = LiveWindow(session_id, window.blueprint, shown, state.made, context, language, read,
                          tally=call_tally(window.blueprint, kept.tally if kept else None, kept_up_to, window.turns,
                                           language))
        reading = NewReading(trigger_id, source, up_to_sequence or window.last_durable_sequence, window.blueprint, live,
                             measures, window.persona, await self._findings(organization, window, kept_up_to, deadline),
                             state.handoff_open, state.earlier, state.alert_on,
                             signals_since(kept.measures if kept else None, measures))
        return await self._judge_and_store(organization, reading, engine, deadline, started, phase)

    async def final_reading(self, organization: str, session_id: str, call: EndedCall, deadline: float | None) -> None:
        """The reading of the whole ended call, stored once before its audit (so a watcher sees it before the audit
        that ends its stream). It is the local engine's: a model engine judges windows, and this reading is the
        measure of the whole call the Say Meter is ranked by."""
        if not call.turns:
            return
        started = time.perf_counter()
        state, context = await asyncio.gather(
            self._reading_state(organization, session_id, FINAL_TRIGGER, call.turns[-1].sequence),
            self._contexts.context(organization, session_id))
        if state.existing is not None:
            return
        shown = call.turns[-DEFAULT_WINDOW:]
        language = self._language(organization, session_id, shown)
        # The call has ended: the texts its last live reading read are read no more after this one.
        read = self._read_turns.get((organization, session_id)) or {}
        self._read_turns.invalidate((organization, session_id))
        live = LiveWindow(session_id, call.blueprint, shown, state.made, context, language, read,
                          tally=call_tally(call.blueprint, None, 0, call.turns, language))
        # The messages after the last live reading are screened by this one.
        whole = Window(call.blueprint, call.turns[-1].sequence, call.turns, call.persona)
        reading = NewReading(FINAL_TRIGGER, SESSION_END, call.turns[-1].sequence, call.blueprint, live,
                             measure(call.turns, read=read, phrases=phrases_for(language)),
                             findings=await self._findings(organization, whole,
                                                           state.kept.up_to_sequence if state.kept else 0, deadline),
                             earlier=state.earlier)
        await self._judge_and_store(organization, reading, self._engines.local.name, deadline, started)

    async def final_say_meter(self, organization: str, session_id: str) -> int | None:
        """The Say Meter score of the session's final reading; None when the call ended with no message."""
        final = await self._by_trigger(organization, session_id, FINAL_TRIGGER)
        return final.say_meter.score if final is not None else None

    async def say_meter_arc(self, organization: str, session_id: str) -> SayMeterArc:
        async with self._database.read() as uow:
            return await uow.analyses.say_meter_arc(organization, session_id, MAX_ARC_READINGS)

    async def _judge_and_store(self, organization: str, reading: NewReading, engine: str, deadline: float | None,
                               started: float, phase: Phases | None = None) -> tuple[StoredAnalysis, bool]:
        """``phase``: a live reading's phases timed so far (the final reading's are not)."""
        measures, live = reading.measures, reading.live
        session_id = live.session_id

        async def judge(chosen: AnalysisEngine) -> Judgement:
            return await chosen.analyse(live, measures)

        judged = await self._engines.run(engine, judge, deadline, f"sessions/{session_id}")
        # Whichever engine judged, nothing the session has had is raised again.
        suggestions = (*not_made(judged.result.suggestions, live.made), *map(finding_suggestion, reading.findings))
        fired = None
        if self._rules is not None and reading.persona:
            fired = await self._rules.fired(organization, LiveMoment(
                reading.persona, live.turns, judged.result.say_meter.score, stage_for(reading.up_to_sequence)),
                reading.handoff_open)
            if fired is not None:
                suggestions += (handoff_suggestion(fired),)
        meter = judged.result.say_meter
        trend = trend_of(reading.earlier, ScoreAt(reading.up_to_sequence, meter.score))
        # The final reading predicts nothing: the call is over.
        alert = NO_ALERT if reading.signals is None else alert_at(meter.score, trend, reading.signals,
                                                                   reading.alert_on, texts=texts_for(live.language))
        analysis = NewAnalysis(
            id=str(uuid.uuid4()), session_id=session_id, trigger_id=reading.trigger_id,
            trigger_source=reading.source, up_to_sequence=reading.up_to_sequence,
            window_first=live.turns[0].sequence, window_last=live.turns[-1].sequence, window_count=len(live.turns),
            blueprint=reading.blueprint, say_meter=judged.result.say_meter, metrics=metrics_record(measures),
            engine=judged.engine, engine_fallback=judged.fallback, model=judged.result.model,
            latency_ms=(time.perf_counter() - started) * 1000, suggestions=suggestions,
            call_measures=running.to_record(measures), call_tally=live.tally, language=live.language,
            language_supported=understands(self._engines.named(judged.engine), live.language, reading.blueprint),
            findings=reading.findings, trend=trend, losing_prospect=alert)
        trigger_id = reading.trigger_id
        applying = (self._rules.start_applying(organization, session_id, trigger_id, fired)
                    if fired is not None and self._rules is not None else None)
        storing = self._storing[analysis.id] = asyncio.get_running_loop().create_future()
        if phase is not None:
            phase.end("judging")
        try:
            async with self._database.transaction() as uow:
                stored = await uow.analyses.add(organization, analysis)
                if stored is None:  # a concurrent request with the same trigger won, and applies its suggestion
                    winner = await uow.analyses.by_trigger(organization, session_id, trigger_id)
                    assert winner is not None
                    return winner, True
                if analysis.findings:  # the transcript service logs them with the session's other guardrail checks
                    await uow.finding_deliveries.enqueue(organization, session_id, analysis.id, analysis.findings)
                await uow.announce(f"{organization}/{session_id}:{analysis.id}")
                await uow.commit()
                if phase is not None:
                    phase.end("storing")
                storing.set_result(stored)
                if alert.change != AlertChange.NONE:
                    LOSING_PROSPECT_ALERTS.labels(alert.change.value).inc()
        finally:
            if not storing.done():
                storing.set_result(None)
            del self._storing[analysis.id]
        if fired is not None and self._rules is not None and await self._rules.auto_apply(organization, stored, fired,
                                                                                          applying):
            stored = await self.stored_analysis(organization, session_id, analysis.id)  # its suggestion applied
        return stored, False

    def _language(self, organization: str, session_id: str, shown: Sequence[Turn]) -> str:
        """The call's language: detected in the window shown until a reading settles it, then the one it settled."""
        key = (organization, session_id)
        settled = self._languages.get(key)
        if settled is not None:
            return settled
        language, is_settled = detected_language(shown)
        if is_settled:
            self._languages.put(key, language, self._languages.generation)
        return language

    async def _findings(self, organization: str, window: Window, screened_up_to: int,
                        deadline: float | None) -> tuple[ContentFinding, ...]:
        """What the persona's input filters find in the candidate's messages of ``window`` after
        ``screened_up_to`` (the messages up to it were screened by the reading that kept the call's measures): the
        rules' findings, and the moderation model's when one is configured and answers in time."""
        if self._policies is None or not window.persona:
            return ()
        filters = (await self._policies.in_force(organization, window.persona)).input_filters
        turns = unscreened_candidate_turns(window.turns, screened_up_to)
        if not filters or not turns:
            return ()
        found = rule_findings(turns, filters)
        if self._moderation is not None:
            try:
                found = merged(found, await within_deadline(self._moderation.findings(turns, filters), deadline))
                MODERATION_CHECKS.labels("used").inc()
            except EngineFailure as failure:
                MODERATION_CHECKS.labels(failure.reason).inc()
                log.warning("moderation for %s fell back to the rules: %s", window.persona, failure)
        for finding in found:
            CONTENT_FINDINGS.labels(finding.category.value).inc()
        return found

    async def get_analysis(self, caller: Principal, session_id: str, analysis_id: str) -> StoredAnalysis:
        await self._access.require(caller, session_id, READERS)
        return await self.stored_analysis(caller.organization, session_id, analysis_id)

    async def stored_analysis(self, organization: str, session_id: str, analysis_id: str) -> StoredAnalysis:
        """An analysis of ``organization``, for a caller already admitted to its session. One this replica is still
        storing (its announcement can reach the watchers before its commit has returned) is the one it stores, once
        committed, not read back."""
        storing = self._storing.get(analysis_id)
        if storing is not None and (stored := await asyncio.shield(storing)) is not None:
            return stored
        async with self._database.read() as uow:
            analysis = await uow.analyses.get(organization, analysis_id)
        if analysis is None or analysis.session_id != session_id:
            raise NotFound(f"sessions/{session_id}/analyses/{analysis_id}", reason="ANALYSIS_NOT_FOUND")
        return analysis

    async def get_suggestion(self, caller: Principal, session_id: str, suggestion_id: str) -> StoredSuggestion:
        await self._access.require(caller, session_id, READERS)
        return await self.stored_suggestion(caller.organization, session_id, suggestion_id)

    async def stored_suggestion(self, organization: str, session_id: str, suggestion_id: str) -> StoredSuggestion:
        """A suggestion of ``organization``, for a caller already admitted to its session."""
        async with self._database.read() as uow:
            suggestion = await uow.analyses.suggestion(organization, session_id, suggestion_id)
        if suggestion is None:
            raise NotFound(f"sessions/{session_id}/suggestions/{suggestion_id}", reason="SUGGESTION_NOT_FOUND")
        return suggestion

    async def list_suggestions(self, caller: Principal, session_id: str, filters: dict[str, str | None],
                               requested_size: int, token: str) -> Page[StoredSuggestion]:
        """Suggestions of a session in the order they were raised, filtered by state, type or analysis."""
        await self._access.require(caller, session_id, READERS)
        size = page_size(requested_size)
        scope = {"session": session_id, **filters}
        after = self._tokens.decode(token, scope)
        async with self._database.read() as uow:
            fetched = await uow.analyses.suggestions(
                caller.organization, session_id, state=filters.get("state"), kind=filters.get("kind"),
                analysis_id=filters.get("analysis_id"), after=after, limit=size + 1)
        suggestions, next_token = self._tokens.page(
            fetched, size, lambda s: [s.create_time.isoformat(), s.analysis_id, s.position], scope)
        return Page(suggestions, next_token)

    async def list_analyses(self, caller: Principal, session_id: str, source: str | None, requested_size: int,
                            token: str) -> Page[StoredAnalysis]:
        """A session's analyses in call order, optionally of one trigger source."""
        await self._access.require(caller, session_id, READERS)
        size = page_size(requested_size)
        filters = {"session": session_id, "source": source}
        after = self._tokens.decode(token, filters)
        async with self._database.read() as uow:
            fetched = await uow.analyses.in_call_order(caller.organization, session_id, source, after, size + 1)
        analyses, next_token = self._tokens.page(
            fetched, size, lambda a: [a.up_to_sequence, a.create_time.isoformat(), a.id], filters)
        return Page(analyses, next_token)

    async def snapshot(self, caller: Principal, session_id: str) -> Snapshot:
        await self._access.require(caller, session_id, READERS)
        async with self._database.read() as uow:
            return await uow.analyses.snapshot(caller.organization, session_id)

    async def _by_trigger(self, organization: str, session_id: str, trigger_id: str) -> StoredAnalysis | None:
        async with self._database.read() as uow:
            return await uow.analyses.by_trigger(organization, session_id, trigger_id)

    async def _reading_state(self, organization: str, session_id: str, trigger_id: str,
                             up_to_sequence: int) -> ReadingState:
        """What a new reading builds on, in one read (see ``ReadingState``)."""
        async with self._database.read() as uow:
            return await uow.analyses.reading_state(organization, session_id, trigger_id, up_to_sequence)


def _check_request(trigger_id: str, up_to_sequence: int, window_size: int, engine_configured: bool) -> None:
    violations = Violations()
    violations.require(bool(trigger_id) and len(trigger_id) <= MAX_TRIGGER_ID and "\x00" not in trigger_id,
                       "trigger_id", f"is required, 1 to {MAX_TRIGGER_ID} characters")
    violations.require(up_to_sequence >= 0, "up_to_sequence", "must not be negative")
    violations.require(0 <= window_size <= MAX_WINDOW, "window_size",
                       f"must be 1 to {MAX_WINDOW}, or 0 for {DEFAULT_WINDOW}")
    violations.require(engine_configured, "engine", NOT_CONFIGURED)
    violations.raise_if_any()


def _check_window(session_id: str, up_to_sequence: int, window: Window) -> None:
    if up_to_sequence > window.last_durable_sequence:
        raise FailedPrecondition(
            f"sequence {up_to_sequence} is not durable yet (last durable: {window.last_durable_sequence})",
            reason="SEQUENCE_NOT_DURABLE", metadata={"last_durable_sequence": str(window.last_durable_sequence)})
    if not window.turns:
        raise FailedPrecondition(f"sessions/{session_id} has no messages to analyse yet", reason="NO_MESSAGES")
