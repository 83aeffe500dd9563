"""Retention of persona memory: facts, working memories and their revisions older than their persona's retention
(``DEFAULT_RETENTION_DAYS`` for a persona without memory settings of its own) are deleted in the background, in
bounded batches, each under a timeout, and counted.

Replicas may run it at once: each batch skips rows another one has locked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from persona_svc.adapters.tables import SCHEMA
from persona_svc.domain.memory import DEFAULT_RETENTION_DAYS

log = logging.getLogger("persona.memory_retention")

DELETED = Counter("sparring_memory_retention_deleted_total", "Rows of persona memory deleted after their retention.",
                  ("table",))
FAILURES = Counter("sparring_memory_retention_failures_total", "Retention batches that failed or timed out.")

# Table, the time a row's retention runs from, and its key. A working memory's revisions go with it (cascade).
_EXPIRING = (
    ("facts", "valid_from", "organization, persona_id, candidate_id, id"),
    ("episodes", "create_time", "organization, persona_id, candidate_id, session_id"),
    ("episode_reviews", "record_time", "organization, persona_id, session_id"),
    ("working_memory_revisions", "create_time", "organization, persona_id, candidate_id, session_id, revision"),
    ("working_memories", "update_time", "organization, persona_id, candidate_id, session_id"),
)


def _delete_expired(table: str, since: str, key: str) -> sa.TextClause:
    return sa.text(f"""
        DELETE FROM {SCHEMA}.{table} WHERE ({key}) IN (
            SELECT {', '.join(f'm.{column.strip()}' for column in key.split(','))}
            FROM {SCHEMA}.{table} AS m
            LEFT JOIN {SCHEMA}.memory_settings AS s ON s.organization = m.organization AND s.id = m.persona_id
            WHERE m.{since} < CAST(:now AS timestamptz)
                              - make_interval(days => coalesce(s.retention_days, CAST(:default_days AS integer)))
            LIMIT :batch FOR UPDATE OF m SKIP LOCKED)""")


class MemoryRetention:
    def __init__(self, engine: AsyncEngine, interval_seconds: float = 3600.0, batch: int = 1000,
                 max_batches: int = 100, timeout_seconds: float = 10.0) -> None:
        self._engine = engine
        self._interval = interval_seconds
        self._batch = batch
        self._max_batches = max_batches  # per table and run: a backlog is worked off over several runs
        self._timeout = timeout_seconds
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, now: datetime | None = None) -> dict[str, int]:
        """Deletes what has expired at ``now``; the rows deleted, by table."""
        now = now or datetime.now(UTC)
        deleted = {}
        for table, since, key in _EXPIRING:
            statement, total = _delete_expired(table, since, key), 0
            for _ in range(self._max_batches):
                async with asyncio.timeout(self._timeout), self._engine.begin() as connection:
                    count = (await connection.execute(statement, {
                        "now": now, "default_days": DEFAULT_RETENTION_DAYS, "batch": self._batch})).rowcount
                total += count
                if count < self._batch:
                    break
            DELETED.labels(table).inc(total)
            deleted[table] = total
        return deleted

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # a failed run is retried at the next interval; the service keeps serving
                FAILURES.inc()
                log.warning("deleting expired persona memory failed", exc_info=True)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="memory-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
