"""Background runs (prompt evolution and learning runs): a queue in PostgreSQL that any replica works.

A run is QUEUED by its Create call, claimed with FOR UPDATE SKIP LOCKED, and holds a lease it
renews while it works; a run whose replica died is taken up again once its lease runs out. Only one
run per scope at a time: a run for everything conflicts with every other run of its kind. Each run has
a time limit, and its progress (each stage's output) is saved as it goes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine

from learning_svc.service_layer.store import REQUEST_LOG
from svckit.db import RequestLog, autocommit, run_idempotent
from svckit.errors import FailedPrecondition, NotFound
from svckit.notify import notify
from svckit.pagination import PageTokens, after_cursor, page_size
from svckit.usecase import Mutation, Page

log = logging.getLogger("learning.runs")

RUNS_CHANNEL = "learning_runs"

RUNS_FINISHED = Counter("sparring_learning_runs_total", "Background runs finished, by kind and final state.",
                        ("kind", "state"))
RUN_SECONDS = Histogram("sparring_learning_run_seconds", "How long background runs take once claimed.", ("kind",),
                        buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))
RUNS_WAITING = Gauge("sparring_learning_runs_waiting", "Runs QUEUED or RUNNING, as last seen by this replica.")


class RunKind(StrEnum):
    EVOLUTION = "evolution"
    LEARNING = "learning"


class RunState(StrEnum):
    QUEUED = "RUN_STATE_QUEUED"
    RUNNING = "RUN_STATE_RUNNING"
    SUCCEEDED = "RUN_STATE_SUCCEEDED"
    FAILED = "RUN_STATE_FAILED"


class RunTrigger(StrEnum):
    MANUAL = "RUN_TRIGGER_MANUAL"
    SCHEDULED = "RUN_TRIGGER_SCHEDULED"


COLLECTIONS = {RunKind.EVOLUTION: "evolutionRuns", RunKind.LEARNING: "learningRuns"}
# The document field holding a run's scope.
SCOPE_FIELDS = {RunKind.EVOLUTION: "archetype", RunKind.LEARNING: "persona"}

Save = Callable[[dict], Awaitable[None]]
# Works a run: given its document and a way to save progress, returns the final document.
Executor = Callable[[dict, Save], Awaitable[dict]]


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class _Queued:
    """The answer a retried start gets back."""

    document: dict


@dataclass(frozen=True)
class RunLimits:
    lease_seconds: float = 30.0
    timeout_seconds: float = 600.0
    poll_seconds: float = 5.0


class Runs:
    def __init__(self, engine: AsyncEngine, page_tokens: PageTokens, limits: RunLimits) -> None:
        self._engine = engine
        self._reads = autocommit(engine)
        self._tokens = page_tokens
        self._limits = limits
        self._executors: dict[RunKind, Executor] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.worker_id = uuid.uuid4().hex[:12]

    def register(self, kind: RunKind, executor: Executor) -> None:
        self._executors[kind] = executor

    # --- requests -----------------------------------------------------------------------------

    async def start(self, kind: RunKind, document: dict, trigger: RunTrigger, mutation: Mutation | None) -> dict:
        """Queues a run; refused while a run of an overlapping scope is QUEUED or RUNNING."""
        run_id = str(uuid.uuid4())
        scope = document.get(SCOPE_FIELDS[kind], "")
        queued = {**document, "name": f"{COLLECTIONS[kind]}/{run_id}", "state": RunState.QUEUED.value,
                  "trigger": trigger.value, "create_time": _now(),
                  "requested_by": mutation.caller.actor if mutation else "scheduler"}

        async def run() -> _Queued:
            await connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                                     {"key": f"learning.runs:{kind.value}"})
            running = (await connection.execute(sa.text(
                "SELECT id FROM learning.runs WHERE kind = :kind "
                "AND state IN ('RUN_STATE_QUEUED', 'RUN_STATE_RUNNING') "
                "AND (scope = :scope OR scope = '' OR :scope = '') ORDER BY create_time LIMIT 1"),
                {"kind": kind.value, "scope": scope})).first()
            if running is not None:
                name = f"{COLLECTIONS[kind]}/{running.id}"
                raise FailedPrecondition(f"{name} is still going for an overlapping scope; wait for it to finish",
                                         reason="RUN_IN_PROGRESS", metadata={"run": name})
            await connection.execute(sa.text(
                "INSERT INTO learning.runs (id, kind, scope, state, trigger, document) "
                "VALUES (:id, :kind, :scope, :state, :trigger, CAST(:document AS jsonb))"),
                {"id": run_id, "kind": kind.value, "scope": scope, "state": RunState.QUEUED.value,
                 "trigger": trigger.value, "document": json.dumps(queued)})
            await notify(connection, RUNS_CHANNEL, kind.value)
            return _Queued(queued)

        async with self._engine.connect() as connection, connection.begin():
            if mutation is None:
                return (await run()).document
            method = "CreateEvolutionRun" if kind == RunKind.EVOLUTION else "CreateLearningRun"
            return (await run_idempotent(RequestLog(connection, REQUEST_LOG), mutation, method, run, _Queued)).document

    async def start_scheduled(self, kind: RunKind, document: dict, every_seconds: float) -> dict | None:
        """A SCHEDULED run, unless one was queued less than ``every_seconds`` ago (by any replica)."""
        async with self._engine.connect() as connection, connection.begin():
            await connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                                     {"key": f"learning.schedule:{kind.value}"})
            recent = (await connection.execute(sa.text(
                "SELECT 1 FROM learning.runs WHERE kind = :kind AND trigger = 'RUN_TRIGGER_SCHEDULED' "
                "AND create_time > now() - make_interval(secs => :every)"),
                {"kind": kind.value, "every": every_seconds})).first()
        if recent is not None:
            return None
        try:
            return await self.start(kind, document, RunTrigger.SCHEDULED, None)
        except FailedPrecondition:
            return None  # a run of that scope is going; the next tick tries again

    async def get(self, kind: RunKind, run_id: str) -> dict:
        async with self._reads.connect() as connection:
            row = (await connection.execute(sa.text(
                "SELECT document FROM learning.runs WHERE id = :id AND kind = :kind"),
                {"id": run_id, "kind": kind.value})).first()
        if row is None:
            raise NotFound(f"{COLLECTIONS[kind]}/{run_id}", reason="RUN_NOT_FOUND")
        return row.document

    async def list(self, kind: RunKind, filters: dict, requested_size: int, token: str) -> Page[dict]:
        """Newest first; ``filters`` may hold scope, state and decision (learning runs)."""
        size = page_size(requested_size)
        after = self._tokens.decode(token, filters)
        clauses = ["kind = :kind"]
        if filters.get("scope") is not None:
            clauses.append("scope = :scope")
        if filters.get("state") is not None:
            clauses.append("state = :state")
        if filters.get("decision") is not None:
            clauses.append("document ->> 'decision' = :decision")
        condition, cursor = after_cursor(after, newest_first=True)
        clauses.append(condition)
        async with self._reads.connect() as connection:
            rows = (await connection.execute(sa.text(
                f"SELECT id, create_time, document FROM learning.runs WHERE {' AND '.join(clauses)} "
                "ORDER BY create_time DESC, id DESC LIMIT :limit"),
                {**filters, **cursor, "kind": kind.value, "limit": size + 1})).all()
        rows, next_token = self._tokens.page(rows, size, lambda r: [r.create_time.isoformat(), r.id], filters)
        return Page([row.document for row in rows], next_token)

    # --- the worker ---------------------------------------------------------------------------

    def wake(self, _payload: str = "") -> None:
        self._wake.set()

    async def start_worker(self) -> None:
        self._task = asyncio.create_task(self._work(), name="learning-runs")

    async def stop_worker(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _work(self) -> None:
        while True:
            try:
                while await self.run_next():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the run queue could not be read; trying again")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._limits.poll_seconds)

    async def run_next(self) -> bool:
        """Claims and works one run; False when none is waiting."""
        claimed = await self._claim()
        if claimed is None:
            return False
        kind, run_id, document = claimed
        started = time.perf_counter()
        lease = asyncio.create_task(self._renew(run_id))
        try:
            final = await asyncio.wait_for(self._executors[kind](document, lambda doc: self._save(run_id, doc)),
                                           self._limits.timeout_seconds)
            final = {**final, "state": RunState.SUCCEEDED.value}
        except TimeoutError:
            final = {**await self.get(kind, run_id), "state": RunState.FAILED.value,
                     "error": f"timed out after {self._limits.timeout_seconds:g} s"}
        except asyncio.CancelledError:
            lease.cancel()
            raise  # the lease runs out and another replica takes the run up
        except Exception as error:
            log.exception("%s failed", document["name"])
            final = {**await self.get(kind, run_id), "state": RunState.FAILED.value,
                     "error": str(error) or type(error).__name__}
        finally:
            lease.cancel()
        await self._save(run_id, {**final, "end_time": _now()}, finished=True)
        RUNS_FINISHED.labels(kind.value, final["state"]).inc()
        RUN_SECONDS.labels(kind.value).observe(time.perf_counter() - started)
        return True

    async def _claim(self) -> tuple[RunKind, str, dict] | None:
        async with self._engine.connect() as connection, connection.begin():
            waiting = (await connection.execute(sa.text(
                "SELECT count(*) FROM learning.runs "
                "WHERE state IN ('RUN_STATE_QUEUED', 'RUN_STATE_RUNNING')"))).scalar()
            RUNS_WAITING.set(waiting or 0)
            row = (await connection.execute(sa.text(
                "SELECT id, kind, document FROM learning.runs WHERE kind = ANY(:kinds) AND (state = 'RUN_STATE_QUEUED' "
                "OR (state = 'RUN_STATE_RUNNING' AND lease_until < now())) ORDER BY create_time LIMIT 1 "
                "FOR UPDATE SKIP LOCKED"), {"kinds": [kind.value for kind in self._executors]})).first()
            if row is None:
                return None
            document = {**row.document, "state": RunState.RUNNING.value,
                        "start_time": row.document.get("start_time") or _now()}
            await connection.execute(sa.text(
                "UPDATE learning.runs SET state = :state, document = CAST(:document AS jsonb), "
                "lease_until = now() + make_interval(secs => :lease) WHERE id = :id"),
                {"id": row.id, "state": RunState.RUNNING.value, "document": json.dumps(document),
                 "lease": self._limits.lease_seconds})
        return RunKind(row.kind), row.id, document

    async def _renew(self, run_id: str) -> None:
        while True:
            await asyncio.sleep(self._limits.lease_seconds / 3)
            async with self._engine.begin() as connection:
                await connection.execute(sa.text(
                    "UPDATE learning.runs SET lease_until = now() + make_interval(secs => :lease) WHERE id = :id"),
                    {"id": run_id, "lease": self._limits.lease_seconds})

    async def _save(self, run_id: str, document: dict, finished: bool = False) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(sa.text(
                "UPDATE learning.runs SET document = CAST(:document AS jsonb), state = :state"
                + (", lease_until = NULL" if finished else "") + " WHERE id = :id"),
                {"id": run_id, "document": json.dumps(document), "state": document["state"]})
            if finished:
                # Whoever waits for the run (an operator's tool, a test) hears of it at once.
                await notify(connection, RUNS_CHANNEL, f"finished {document['name']} {document['state']}")
