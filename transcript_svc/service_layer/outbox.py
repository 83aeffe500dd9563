"""Delivers the outbox (analysis triggers, post-call audits) to the analysis service.

Rows are written in the transaction that makes them due, so none is lost to a crash.
A dispatcher leases due rows with FOR UPDATE SKIP LOCKED (so with several replicas
each row is handled by one), calls the analysis service without holding a transaction,
then marks the row done, or schedules a retry with exponential back-off, or after
``max_attempts`` (or a refusal that no retry can fix) marks it failed. A replica that
dies mid-call leaves a lease that expires, and the row is tried again; the analysis
service is idempotent on the trigger id, so a repeat does no harm.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
import sqlalchemy as sa
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("transcript.outbox")

OUTBOX_DELIVERIES = Counter(
    "sparring_transcript_outbox_deliveries_total",
    "Outbox requests handed to the analysis service, by kind and outcome (delivered, retry, failed).",
    ("kind", "outcome"),
)
OUTBOX_DELAY = Histogram(
    "sparring_transcript_outbox_delivery_seconds", "From an outbox row's creation to its delivery.", ("kind",),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300),
)

_STOP_SECONDS = 10.0

# Refusals that a retry cannot change; the row is marked failed at once.
_FINAL = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
          grpc.StatusCode.PERMISSION_DENIED}

_CLAIM = sa.text("""
WITH due AS (
    SELECT id FROM transcript.outbox
    WHERE state = 'pending' AND next_attempt_time <= now()
    ORDER BY id LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE transcript.outbox o
SET next_attempt_time = now() + make_interval(secs => :lease), attempts = o.attempts + 1
FROM due WHERE o.id = due.id
RETURNING o.id, o.session_id, o.kind, o.up_to_sequence, o.attempts, extract(epoch FROM now() - o.create_time) AS age
""")
_DONE = sa.text("UPDATE transcript.outbox SET state = 'done', done_time = now(), last_error = '' WHERE id = :id")
_RETRY = sa.text("""
UPDATE transcript.outbox SET next_attempt_time = now() + make_interval(secs => :delay), last_error = :error
WHERE id = :id
""")
_FAILED = sa.text(
    "UPDATE transcript.outbox SET state = 'failed', done_time = now(), last_error = :error WHERE id = :id"
)


@dataclass(frozen=True)
class _Due:
    id: int
    session_id: str
    kind: str
    up_to_sequence: int
    attempts: int
    age_seconds: float


Deliver = Callable[[str, str, int], Awaitable[None]]


class OutboxDispatcher:
    def __init__(self, engine: AsyncEngine, deliver: Deliver, *, batch: int = 50, concurrency: int = 8,
                 max_attempts: int = 20, lease_seconds: float = 30.0, poll_seconds: float = 1.0,
                 max_backoff_seconds: float = 300.0) -> None:
        self._engine = engine
        self._deliver = deliver
        self._batch = batch
        self._calls = asyncio.Semaphore(concurrency)
        self._max_attempts = max_attempts
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._max_backoff = max_backoff_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None

    def wake(self, _payload: str = "") -> None:
        """NOTIFY handler: something fell due."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")

    async def stop(self) -> None:
        """Lets the batch in hand finish (so delivered rows are marked so), then stops."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(self._task, _STOP_SECONDS)
        except TimeoutError:
            log.warning("outbox dispatcher did not finish its batch in %.0fs; its leases will expire", _STOP_SECONDS)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                handled = await self.dispatch_once()
            except Exception as error:
                log.warning("outbox dispatch failed: %s", error)
                handled = 0
            if handled < self._batch and not self._stopping:
                self._wake.clear()
                try:
                    # Woken by NOTIFY; the timeout picks up retries whose back-off has passed.
                    await asyncio.wait_for(self._wake.wait(), self._poll)
                except TimeoutError:
                    pass

    async def dispatch_once(self) -> int:
        """Leases and delivers one batch of due rows; returns how many were due."""
        async with self._engine.begin() as connection:
            rows = (await connection.execute(_CLAIM, {"limit": self._batch, "lease": self._lease})).all()
        due = [_Due(r.id, r.session_id, r.kind, r.up_to_sequence, r.attempts, float(r.age)) for r in rows]
        await asyncio.gather(*(self._handle(item) for item in due))
        return len(due)

    async def _handle(self, item: _Due) -> None:
        async with self._calls:
            try:
                await self._deliver(item.kind, item.session_id, item.up_to_sequence)
            except grpc.aio.AioRpcError as error:
                await self._failed_attempt(item, error.code(), error.details() or "")
                return
        OUTBOX_DELIVERIES.labels(item.kind, "delivered").inc()
        OUTBOX_DELAY.labels(item.kind).observe(item.age_seconds)
        async with self._engine.begin() as connection:
            await connection.execute(_DONE, {"id": item.id})

    async def _failed_attempt(self, item: _Due, code: grpc.StatusCode, details: str) -> None:
        error = f"{code.name}: {details}"[:500]
        async with self._engine.begin() as connection:
            if code in _FINAL or item.attempts >= self._max_attempts:
                OUTBOX_DELIVERIES.labels(item.kind, "failed").inc()
                log.warning("giving up %s request for sessions/%s at %d after %d attempts: %s", item.kind,
                            item.session_id, item.up_to_sequence, item.attempts, error)
                await connection.execute(_FAILED, {"id": item.id, "error": error})
            else:
                OUTBOX_DELIVERIES.labels(item.kind, "retry").inc()
                delay = min(self._max_backoff, 2.0 ** (item.attempts - 1))
                await connection.execute(_RETRY, {"id": item.id, "delay": delay, "error": error})
