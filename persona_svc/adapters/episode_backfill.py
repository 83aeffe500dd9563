"""Embeddings for the episodes stored without one (recorded before an embeddings endpoint was configured, or while
it gave none), and new ones for the episodes embedded by another model than the endpoint's now (the configured model
changed, or the dimension of the model behind it): vectors of two models are never compared, so those are recalled
by their words only until they are embedded again. In the background, on one replica at a time (an advisory lock),
each episode embedded within the endpoint's own time limit and stored unless it got one of this model meanwhile;
counted by reason (missing, other_model).

A pass reads every episode still without an embedding once, in batches in key order, then embeds again at most a
batch of those of another model, oldest first, within REEMBED_SECONDS. The endpoint's dimension is that of the last
embedding it gave: until this replica has had one, only the model's name tells an episode of another model. When
neither is left the job idles until an episode changes (announced to every replica) or the interval passes; after a
failure it goes on after a back-off that doubles from a second up to the interval. A replica that finds another's
pass running looks again after the interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from persona_svc.adapters.memory import store_embedding
from persona_svc.adapters.tables import SCHEMA
from persona_svc.adapters.voice_agent_store import AdvisorySweepLock
from persona_svc.service_layer.memory_ports import Embeddings

log = logging.getLogger("persona.episode_backfill")

MISSING, OTHER_MODEL = "missing", "other_model"
BACKFILLED = Counter("sparring_memory_backfill_episodes_total",
                     "Episodes the background embedding embedded, or failed to (tried again in a later pass), by why "
                     "they needed one: stored without an embedding (missing) or with one of another model or "
                     "dimension than the endpoint's (other_model).", ("reason", "outcome"))
LEFT = Gauge("sparring_memory_backfill_episodes_left",
             "Episodes without an embedding (missing), or with one of another model (other_model), at the end of "
             "the background embedding's last pass.", ("reason",))
PASS_FAILURES = Counter("sparring_memory_backfill_failures_total",
                        "Passes of the background embedding that failed or timed out reading or writing episodes.")

LOCK = "persona.episode_backfill"
FIRST_BACKOFF_SECONDS = 1.0
STATEMENT_SECONDS = 10.0
# How long a pass embeds episodes of another model again; those it has not reached wait for the next pass.
REEMBED_SECONDS = 60.0
_KEY = "organization, persona_id, candidate_id, session_id"
# The episodes_unembedded index holds exactly these rows, in this order.
_UNEMBEDDED = sa.text(f"""
    SELECT {_KEY}, document FROM {SCHEMA}.episodes
    WHERE embedding IS NULL AND ({_KEY}) > (:organization, :persona, :candidate, :session)
    ORDER BY {_KEY} LIMIT :batch""")
_LEFT = sa.text(f"SELECT count(*) FROM {SCHEMA}.episodes WHERE embedding IS NULL")
# Two ranges of the episodes_by_embedding_model index, around the endpoint's model and dimension; with no dimension
# known (NULL) the comparison stops at the name, and the episodes of the endpoint's model are in neither range.
_OF_OTHER_MODEL = ("embedding IS NOT NULL AND ((embedding_model, vector_dims(embedding)) < (:model, :dimensions)"
                   " OR (embedding_model, vector_dims(embedding)) > (:model, :dimensions))")
_OTHER_MODEL = sa.text(f"""
    SELECT {_KEY}, document FROM {SCHEMA}.episodes WHERE {_OF_OTHER_MODEL}
    ORDER BY create_time, {_KEY} LIMIT :batch""")
_OTHER_MODEL_LEFT = sa.text(f"SELECT count(*) FROM {SCHEMA}.episodes WHERE {_OF_OTHER_MODEL}")


@dataclass(frozen=True)
class Embedded:
    """Of the episodes of one reason: how many a pass embedded, failed to embed, and left for a later one."""

    embedded: int
    failed: int
    left: int


@dataclass(frozen=True)
class BackfillPass:
    missing: Embedded
    other_model: Embedded


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
        """Embeds every episode without an embedding that this pass reads, then a batch of those of another model."""
        return BackfillPass(await self._embed_missing(), await self._embed_other_model())

    async def _embed_missing(self) -> Embedded:
        embedded = failed = 0
        after = ("", "", "", "")
        while True:
            rows = await self._read(_UNEMBEDDED, organization=after[0], persona=after[1], candidate=after[2],
                                    session=after[3], batch=self._batch)
            done, missed = await self._embed(rows, MISSING, None)
            embedded, failed = embedded + done, failed + missed
            if len(rows) < self._batch:
                break
            last = rows[-1]
            after = (last.organization, last.persona_id, last.candidate_id, last.session_id)
        return Embedded(embedded, failed, await self._count(_LEFT, MISSING))

    async def _embed_other_model(self) -> Embedded:
        model = {"model": self._embeddings.model, "dimensions": self._embeddings.dimensions}
        rows = await self._read(_OTHER_MODEL, **model, batch=self._batch)
        embedded, failed = await self._embed(rows, OTHER_MODEL, time.monotonic() + REEMBED_SECONDS)
        return Embedded(embedded, failed, await self._count(_OTHER_MODEL_LEFT, OTHER_MODEL, **model))

    async def _read(self, query: sa.TextClause, **parameters: Any) -> list[Any]:
        async with asyncio.timeout(STATEMENT_SECONDS), self._engine.connect() as connection:
            return list((await connection.execute(query, parameters)).all())

    async def _count(self, query: sa.TextClause, reason: str, **parameters: Any) -> int:
        async with asyncio.timeout(STATEMENT_SECONDS), self._engine.connect() as connection:
            left = int(await connection.scalar(query, parameters) or 0)
        LEFT.labels(reason).set(left)
        return left

    async def _embed(self, rows: list[Any], reason: str, deadline: float | None) -> tuple[int, int]:
        """Embeds and stores each row's document, until ``deadline`` (time.monotonic()) if any; (embedded, failed)."""
        embedded = failed = 0
        for row in rows:
            if deadline is not None and time.monotonic() >= deadline:
                break
            embedding = await self._embeddings.embed(row.document, "backfill", deadline)
            if embedding is None:
                failed += 1
                BACKFILLED.labels(reason, "failed").inc()
                continue
            async with asyncio.timeout(STATEMENT_SECONDS), self._engine.begin() as connection:
                await store_embedding(connection, row.organization, row.persona_id, row.candidate_id,
                                      row.session_id, embedding)
            embedded += 1
            BACKFILLED.labels(reason, "embedded").inc()
        return embedded, failed

    async def _run(self) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            self._changed.clear()
            try:
                async with self._lock.held() as ours:
                    done = await self.run_pass() if ours else None  # None: another replica's pass runs
                troubled = done is not None and bool(done.missing.failed or done.other_model.failed)
            except Exception:  # the database failed or was too slow: a later pass takes it up again
                PASS_FAILURES.inc()
                log.warning("embedding episodes in the background failed", exc_info=True)
                done, troubled = None, True
            if troubled:
                await asyncio.sleep(backoff)  # the endpoint (or database) is given time, whatever changes meanwhile
                backoff = min(backoff * 2, self._interval)
                continue
            backoff = FIRST_BACKOFF_SECONDS
            if done is None:  # the replica whose pass runs hears every change: this one looks again much later
                await asyncio.sleep(self._interval)
                continue
            if any(part.left and part.embedded for part in (done.missing, done.other_model)):
                continue  # stored during the pass behind where it had read, or more of another model than a batch
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
