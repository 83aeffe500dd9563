"""Delivery of outbox rows to another service, at least once, with leases and back-off.

Rows are written in the transaction that makes them due, so none is lost to a crash. A
dispatcher leases due rows with FOR UPDATE SKIP LOCKED (with several replicas each row is
handled by one), calls the other service without holding a transaction, then marks the row
done, or schedules a retry with exponential back-off, or (when the outbox allows giving up)
after ``max_attempts`` or a refusal no retry can fix, marks it failed. A replica that dies
mid-call (or before the row is marked done) leaves a lease that expires and the row is tried
again, so receivers must be idempotent.

Each of these is one statement, run outside a transaction (BEGIN and COMMIT would be two round
trips more). The rows delivered while one ``done`` statement runs are marked together by the next,
so under load a busy outbox marks its rows in a few statements a second, not one per row.

Each outbox describes its table (``OutboxTable``: which columns hold its state, attempts, last error and
delivery time) and ``OutboxQueries.of`` writes the SQL the dispatcher runs on it: ``claim`` takes
``:limit`` and ``:lease`` and returns ``id``, ``kind``, ``attempts``, ``age`` (seconds since the row was
written) and whatever ``deliver`` needs; ``done`` takes the ``:ids`` delivered; ``retry`` (``:delay``,
``:error``) and ``failed`` (``:error``) take ``:id``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import sqlalchemy as sa
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import TextClause
from sqlalchemy.ext.asyncio import AsyncEngine

from svckit.db import autocommit

log = logging.getLogger("svckit.outbox")

OUTBOX_DELIVERIES = Counter(
    "sparring_outbox_deliveries_total",
    "Outbox rows handed to another service, by outbox, kind and outcome (delivered, retry, failed).",
    ("outbox", "kind", "outcome"),
)
OUTBOX_DELAY = Histogram(
    "sparring_outbox_delivery_seconds", "From an outbox row's creation to its delivery.", ("outbox", "kind"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600),
)
OUTBOX_IN_FLIGHT = Gauge("sparring_outbox_calls_in_flight",
                         "Outbox deliveries calling the other service now (bounded by the outbox's concurrency).",
                         ("outbox",))

_STOP_SECONDS = 10.0


@dataclass(frozen=True)
class OutboxTable:
    """A table of rows to hand out, by the names of the columns the dispatcher works (code constants, never
    input). A row is due while ``state`` is 'pending' and ``next_attempt`` has passed."""

    name: str  # schema.table
    fields: str  # what ``deliver`` gets of a row, as a select list over ``item``; it must name a ``kind`` (the
    # dispatcher takes the row's id itself, whether or not the list names it)
    order: str  # which due rows go first
    state: str = "state"
    delivered: str = "done"  # the state of a delivered row
    attempts: str = "attempts"
    last_error: str = "last_error"
    done_time: str = "done_time"
    next_attempt: str = "next_attempt_time"
    can_fail: bool = True  # False: never give up, retry with back-off for ever


@dataclass(frozen=True)
class OutboxQueries:
    claim: TextClause
    done: TextClause
    retry: TextClause
    failed: TextClause | None = None  # None: never give up, retry with back-off for ever

    @classmethod
    def of(cls, table: OutboxTable) -> OutboxQueries:
        t = table
        failed = (f"UPDATE {t.name} SET {t.state} = 'failed', {t.done_time} = now(), {t.last_error} = :error "
                  "WHERE id = :id")
        return cls(
            claim=sa.text(f"""
WITH due AS (
    SELECT id FROM {t.name}
    WHERE {t.state} = 'pending' AND {t.next_attempt} <= now()
    ORDER BY {t.order} LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE {t.name} item
SET {t.next_attempt} = now() + make_interval(secs => :lease), {t.attempts} = item.{t.attempts} + 1
FROM due WHERE item.id = due.id
RETURNING {t.fields}, item.id AS outbox_row_id, item.{t.attempts} AS attempts,
          extract(epoch FROM now() - item.create_time) AS age
"""),
            done=sa.text(f"UPDATE {t.name} SET {t.state} = '{t.delivered}', {t.done_time} = now(), "
                         f"{t.last_error} = '' WHERE id = ANY(:ids)"),
            retry=sa.text(f"UPDATE {t.name} SET {t.next_attempt} = now() + make_interval(secs => :delay), "
                          f"{t.last_error} = :error WHERE id = :id"),
            failed=sa.text(failed) if t.can_fail else None,
        )


Deliver = Callable[[Any], Awaitable[None]]


class OutboxDispatcher:
    def __init__(self, name: str, engine: AsyncEngine, queries: OutboxQueries, deliver: Deliver, *,
                 final_codes: frozenset[grpc.StatusCode] = frozenset(), max_attempts: int | None = None,
                 batch: int = 50, concurrency: int = 8, lease_seconds: float = 30.0, poll_seconds: float = 1.0,
                 max_backoff_seconds: float = 300.0) -> None:
        self._name = name
        self._engine = autocommit(engine)  # each statement is atomic alone: no BEGIN and COMMIT round trips
        self._queries = queries
        self._deliver = deliver
        self._final = final_codes
        self._max_attempts = max_attempts
        self._batch = batch
        self._calls = asyncio.Semaphore(concurrency)
        self._max_in_flight = 2 * concurrency
        self._in_flight: set[asyncio.Task] = set()
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._max_backoff = max_backoff_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None
        self._delivered: list[Any] = []  # ids of rows delivered and not yet marked done
        self._marking: asyncio.Task | None = None

    def wake(self, _payload: str = "") -> None:
        """NOTIFY handler: something fell due."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-{self._name}")

    async def stop(self) -> None:
        """Lets the deliveries in hand finish (so delivered rows are marked so), then stops."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(self._task, _STOP_SECONDS)
        except TimeoutError:
            log.warning("outbox %s did not finish its batch in %.0fs; its leases will expire", self._name,
                        _STOP_SECONDS)

    async def _run(self) -> None:
        while not self._stopping:
            # Cleared before the claim: a NOTIFY that arrives while rows are being claimed or delivered
            # wakes the next round instead of being lost.
            self._wake.clear()
            try:
                claimed = await self.dispatch_once()
            except Exception as error:
                log.warning("outbox %s dispatch failed: %s", self._name, error)
                claimed = 0
            if claimed and len(self._in_flight) < self._max_in_flight:
                continue
            try:
                # Woken by NOTIFY or by a delivery finishing; the timeout picks up retries whose back-off passed.
                await asyncio.wait_for(self._wake.wait(), self._poll)
            except TimeoutError:
                pass
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._marking is not None:
            await self._marking

    async def dispatch_once(self) -> int:
        """Leases as many due rows as there is room for and starts delivering them; returns how many.

        Deliveries run alongside later claims, so one slow call does not hold back rows that fell due after
        it; at most ``2 * concurrency`` rows are leased and unfinished at a time."""
        room = min(self._batch, self._max_in_flight - len(self._in_flight))
        if room <= 0:
            return 0
        async with self._engine.connect() as connection:
            rows = (await connection.execute(self._queries.claim, {"limit": room, "lease": self._lease})).all()
        claimed_at = time.monotonic()
        for row in rows:
            task = asyncio.create_task(self._handle(row, claimed_at))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
        return len(rows)

    def _finished(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        self._wake.set()  # room for more
        if not task.cancelled() and task.exception() is not None:
            log.warning("outbox %s delivery failed: %s", self._name, task.exception())

    async def _handle(self, row: Any, claimed_at: float) -> None:
        async with self._calls:
            in_flight = OUTBOX_IN_FLIGHT.labels(self._name)
            in_flight.inc()
            try:
                await self._deliver(row)
            except grpc.aio.AioRpcError as error:
                await self._failed_attempt(row, error.code(), error.details() or "")
                return
            finally:
                in_flight.dec()
        OUTBOX_DELIVERIES.labels(self._name, row.kind, "delivered").inc()
        OUTBOX_DELAY.labels(self._name, row.kind).observe(float(row.age) + time.monotonic() - claimed_at)
        self._delivered.append(row.outbox_row_id)
        if self._marking is None or self._marking.done():
            self._marking = asyncio.create_task(self._mark_done(), name=f"outbox-{self._name}-done")

    async def _mark_done(self) -> None:
        """Marks the delivered rows done, those delivered meanwhile by the next statement, until none is left.

        A statement that fails leaves its rows leased: they are delivered again once the lease expires."""
        while self._delivered:
            ids, self._delivered = self._delivered, []
            try:
                async with self._engine.connect() as connection:
                    await connection.execute(self._queries.done, {"ids": ids})
            except Exception as error:
                log.warning("outbox %s could not mark %d delivered rows done: %s", self._name, len(ids), error)

    async def _failed_attempt(self, row: Any, code: grpc.StatusCode, details: str) -> None:
        error = f"{code.name}: {details}"[:500]
        failed = self._queries.failed
        gives_up = code in self._final or (self._max_attempts is not None and row.attempts >= self._max_attempts)
        async with self._engine.connect() as connection:
            if failed is not None and gives_up:
                OUTBOX_DELIVERIES.labels(self._name, row.kind, "failed").inc()
                log.warning("outbox %s gives up row %s after %d attempts: %s", self._name, row.outbox_row_id,
                            row.attempts, error)
                await connection.execute(failed, {"id": row.outbox_row_id, "error": error})
            else:
                OUTBOX_DELIVERIES.labels(self._name, row.kind, "retry").inc()
                delay = min(self._max_backoff, 2.0 ** (row.attempts - 1))
                await connection.execute(self._queries.retry, {"id": row.outbox_row_id, "delay": delay,
                                                                 "error": error})
