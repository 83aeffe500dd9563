"""Embeddings for the episodes stored without one: recorded before an embeddings endpoint was configured, or while
it gave none. In the background, on one replica at a time (an advisory lock), in batches read in key order, each
episode embedded within the endpoint's own time limit and stored unless it got one meanwhile; counted.

A pass reads every episode still without an embedding once. When none is left the job idles until an episode
changes (announced to every replica) or the interval passes; after a failure it goes on after a back-off that
doubles from a second up to the interval. A replica that finds another's pass running looks again after the
interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from persona_svc.adapters.memory import store_embedding
from persona_svc.adapters.tables import SCHEMA
from persona_svc.adapters.voice_agent_store import AdvisorySweepLock
from persona_svc.service_layer.memory_ports import Embeddings

log = logging.getLogger("persona.episode_backfill")

BACKFILLED = Counter("sparring_memory_backfill_episodes_total",
                     "Episodes stored without an embedding that the background embedding embedded, or failed to "
                     "(tried again in a later pass).", ("outcome",))
_EMBEDDED, _FAILED = BACKFILLED.labels("embedded"), BACKFILLED.labels("failed")
LEFT = Gauge("sparring_memory_backfill_episodes_left",
             "Episodes without an embedding at the end of the background embedding's last pass.")
PASS_FAILURES = Counter("sparring_memory_backfill_failures_total",
                        "Passes of the background embedding that failed or timed out reading or writing episodes.")

LOCK = "persona.episode_backfill"
FIRST_BACKOFF_SECONDS = 1.0
STATEMENT_SECONDS = 10.0
_KEY = "organization, persona_id, candidate_id, session_id"
# The episodes_unembedded index holds exactly these rows, in this order.
_UNEMBEDDED = sa.text(f"""
    SELECT {_KEY}, document FROM {SCHEMA}.episodes
    WHERE embedding IS NULL AND ({_KEY}) > (:organization, :persona, :candidate, :session)
    ORDER BY {_KEY} LIMIT :batch""")
_LEFT = sa.text(f"SELECT count(*) FROM {SCHEMA}.episodes WHERE embedding IS NULL")


@dataclass(frozen=True)
class BackfillPass:
    embedded: int
    failed: int
    left: int


class EpisodeBackfill:
    def __init__(self, engine: AsyncEngine, embeddings: Embeddings, batch: int, interval_seconds: float) -> None:
        self._engine = engine
        self._embeddings = embeddings
        self._lock = AdvisorySweepLock(engine, LOCK)
        self._batch = batch
        self._interval = interval_seconds
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def episode_changed(self) -> None:
        """An episode was stored or changed, here or on another replica: an idle job looks again."""
        self._changed.set()

    async def run_pass(self) -> BackfillPass:
        """Embeds every episode without an embedding that this pass reads."""
        embedded = failed = 0
        after = ("", "", "", "")
        while True:
            async with asyncio.timeout(STATEMENT_SECONDS), self._engine.connect() as connection:
                rows = (await connection.execute(_UNEMBEDDED, {
                    "organization": after[0], "persona": after[1], "candidate": after[2], "session": after[3],
                    "batch": self._batch})).all()
            for row in rows:
                embedding = await self._embeddings.embed(row.document, "backfill", None)
                if embedding is None:
                    failed += 1
                    _FAILED.inc()
                    continue
                async with asyncio.timeout(STATEMENT_SECONDS), self._engine.begin() as connection:
                    await store_embedding(connection, row.organization, row.persona_id, row.candidate_id,
                                          row.session_id, embedding)
                embedded += 1
                _EMBEDDED.inc()
            if len(rows) < self._batch:
                break
            last = rows[-1]
            after = (last.organization, last.persona_id, last.candidate_id, last.session_id)
        async with asyncio.timeout(STATEMENT_SECONDS), self._engine.connect() as connection:
            left = int(await connection.scalar(_LEFT) or 0)
        LEFT.set(left)
        return BackfillPass(embedded, failed, left)

    async def _run(self) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            self._changed.clear()
            try:
                async with self._lock.held() as ours:
                    done = await self.run_pass() if ours else None  # None: another replica's pass runs
                troubled = done is not None and done.failed > 0
            except Exception:  # the database failed or was too slow: a later pass takes it up again
                PASS_FAILURES.inc()
                log.warning("embedding the episodes stored without one failed", exc_info=True)
                done, troubled = None, True
            if troubled:
                await asyncio.sleep(backoff)  # the endpoint (or database) is given time, whatever changes meanwhile
                backoff = min(backoff * 2, self._interval)
                continue
            backoff = FIRST_BACKOFF_SECONDS
            if done is None:  # the replica whose pass runs hears every change: this one looks again much later
                await asyncio.sleep(self._interval)
                continue
            if done.left and done.embedded:
                continue  # stored during the pass, behind where it had read
            with contextlib.suppress(TimeoutError):  # none left: idle until an episode changes
                async with asyncio.timeout(self._interval):
                    await self._changed.wait()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="episode-backfill")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
