"""Clean-up of voice agents: a background sweep, run by one replica at a time, that retires the agents no session
has used for a grace period and deletes them at their providers, with retries.

A sweep (1) asks the transcript service whether the sessions with open uses have ended, and closes those uses;
(2) retires each agent made before the grace period whose every use ended before it: under the agent's key lock,
so a start either recorded its use first (and the agent stays) or finds no agent and makes a new one; (3) deletes
the retired agents at their providers. An agent the provider no longer has is done, not failed; a failed deletion
is tried again later with a growing delay, and given up after ``max_attempts`` (counted). A session whose state
cannot be read keeps its agent: nothing is retired on a guess. (4) Deletions done more than ``keep_done`` ago are
removed, at most a batch a sweep (counted); those given up stay, for an operator to see.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter

from persona_svc.service_layer.voice_ports import CleanupStore, SessionStates, SweepLock, VoiceProvider
from svckit.errors import DomainError, Unavailable

log = logging.getLogger("persona.voice_cleanup")

SWEEPS = Counter("sparring_persona_voice_agent_sweeps_total",
                 "Clean-up sweeps of voice agents: ran, skipped (another replica held the lock) or failed.",
                 ("result",))
CLEANUPS = Counter("sparring_persona_voice_agent_cleanups_total",
                   "Voice agents retired and deleted at their providers, by outcome: retired, deleted, already_gone "
                   "(the provider no longer had it), retried, given_up.", ("provider", "outcome"))
PRUNED = Counter("sparring_persona_voice_agent_deletions_pruned_total",
                 "Deletions of voice agents done long enough ago to be removed by clean-up.")
MAX_RETRY_DELAY = timedelta(hours=1)


@dataclass
class SweepResult:
    uses_closed: int = 0
    retired: int = 0
    deleted: int = 0
    already_gone: int = 0
    retried: int = 0
    given_up: int = 0
    pruned: int = 0


class VoiceAgentCleanup:
    def __init__(self, store: CleanupStore, sessions: SessionStates, providers: Mapping[str, VoiceProvider],
                 lock: SweepLock, grace: timedelta, batch: int = 500, max_attempts: int = 10,
                 retry_delay: timedelta = timedelta(minutes=1), keep_done: timedelta = timedelta(days=7)) -> None:
        self._store = store
        self._sessions = sessions
        self._providers = providers
        self._lock = lock
        self._grace = grace
        self._batch = batch
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._keep_done = keep_done

    async def sweep(self) -> SweepResult | None:
        """One sweep; None when another replica is sweeping."""
        async with self._lock.held() as acquired:
            if not acquired:
                SWEEPS.labels("skipped").inc()
                return None
            result = SweepResult()
            await self._close_uses(result)
            idle_since = datetime.now(UTC) - self._grace
            for agent in await self._store.idle_agents(idle_since, self._batch):
                if await self._store.retire(agent, idle_since):
                    result.retired += 1
                    CLEANUPS.labels(agent.spec.provider, "retired").inc()
            await self._delete_due(result)
            result.pruned = await self._store.prune_done(datetime.now(UTC) - self._keep_done, self._batch)
            PRUNED.inc(result.pruned)
        SWEEPS.labels("ran").inc()
        return result

    async def _close_uses(self, result: SweepResult) -> None:
        for use in await self._store.open_uses(self._batch):
            try:
                ended = await self._sessions.ended_at(use.organization, use.session)
            except Unavailable as error:
                log.warning("sessions could not be read, their agents are kept: %s", error.message)
                return
            await self._store.checked_use(use, ended)
            result.uses_closed += ended is not None

    async def _delete_due(self, result: SweepResult) -> None:
        for deletion in await self._store.due_deletions(datetime.now(UTC), self._batch):
            provider = self._providers.get(deletion.provider)
            try:
                if provider is None:
                    raise Unavailable(f"voice provider {deletion.provider} is not served by this replica")
                existed = await provider.delete_agent(deletion.provider_agent_id)
            except DomainError as error:
                attempts = deletion.attempts + 1
                retry_at = None if attempts >= self._max_attempts else datetime.now(UTC) + min(
                    self._retry_delay * 2 ** (attempts - 1), MAX_RETRY_DELAY)
                await self._store.deletion_failed(deletion, error.message, retry_at)
                outcome = "retried" if retry_at else "given_up"
                setattr(result, outcome, getattr(result, outcome) + 1)
                CLEANUPS.labels(deletion.provider, outcome).inc()
                continue
            await self._store.deletion_done(deletion)
            outcome = "deleted" if existed else "already_gone"
            setattr(result, outcome, getattr(result, outcome) + 1)
            CLEANUPS.labels(deletion.provider, outcome).inc()

    async def run_every(self, interval_seconds: float, timeout_seconds: float) -> None:
        """Sweeps until cancelled; a sweep that fails or overruns is counted and the next one tries again."""
        while True:
            try:
                async with asyncio.timeout(timeout_seconds):
                    await self.sweep()
            except Exception as error:  # the loop must outlive any one failure; the next sweep tries again
                SWEEPS.labels("failed").inc()
                log.error("voice agent clean-up failed; the next sweep tries again: %r", error)
            await asyncio.sleep(interval_seconds)
