"""Interviewers watching a session's approvals live: each change announced on any replica (NOTIFY) reaches the
watchers of its session held by this replica. A replica holds at most ``max_watchers``; a watcher that falls
``QUEUE_BOUND`` changes behind is sent the session's pending approvals again instead."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator

from prometheus_client import Gauge

from svckit.errors import ResourceExhausted
from svckit.identity import Principal
from transcript_svc.domain.approvals import Approval
from transcript_svc.service_layer.approvals import ApprovalDesk

WATCHERS = Gauge("sparring_transcript_approval_watchers",
                 "Approval watch streams held by this replica (bounded by max_approval_watchers).")
QUEUE_BOUND = 100
_RESYNC = ""  # in a watcher's queue: send every pending approval again


class ApprovalWatch:
    def __init__(self, desk: ApprovalDesk, max_watchers: int) -> None:
        self._desk = desk
        self._max_watchers = max_watchers
        self._watchers: defaultdict[tuple[str, str], set[asyncio.Queue[str]]] = defaultdict(set)

    async def watch(self, caller: Principal, session_id: str) -> AsyncIterator[Approval]:
        """The session's pending approvals, then each approval as it changes; until the caller goes."""
        pending = await self._desk.watch_pending(caller, session_id)  # raises if the caller may not read it
        if sum(map(len, self._watchers.values())) >= self._max_watchers:
            raise ResourceExhausted(f"this replica watches {self._max_watchers} sessions' approvals already",
                                    reason="TOO_MANY_WATCHERS", retry_after=1.0)
        key = (caller.organization, session_id)
        changes: asyncio.Queue[str] = asyncio.Queue(QUEUE_BOUND)
        self._watchers[key].add(changes)  # before the first read: nothing changed after it is missed
        WATCHERS.inc()
        try:
            while True:
                for approval in pending:
                    yield approval
                changed = await changes.get()
                pending = (await self._desk.watch_pending(caller, session_id) if changed == _RESYNC
                           else [await self._desk.get(caller, session_id, changed)])
        finally:
            self._watchers[key].discard(changes)
            if not self._watchers[key]:
                del self._watchers[key]
            WATCHERS.dec()

    def on_change(self, payload: str) -> None:
        """A NOTIFY of APPROVALS_CHANNEL: "{session_id}:{approval_id}:{organization}"."""
        session_id, _, rest = payload.partition(":")
        approval_id, _, organization = rest.partition(":")
        for changes in self._watchers.get((organization, session_id), ()):
            _offer(changes, approval_id)

    async def resync(self) -> None:
        """After the LISTEN connection came back: every watcher is sent its pending approvals again."""
        for watchers in self._watchers.values():
            for changes in watchers:
                _offer(changes, _RESYNC)


def _offer(changes: asyncio.Queue[str], item: str) -> None:
    if changes.full():  # fallen behind: what it missed is caught up by one reading of the pending approvals
        while not changes.empty():
            changes.get_nowait()
        item = _RESYNC
    changes.put_nowait(item)
