"""Background runs (prompt evolution and learning runs): a queue in PostgreSQL that any replica works.

A run is QUEUED by its Create call, claimed with FOR UPDATE SKIP LOCKED, and holds a lease it
renews while it works; a run whose replica died is taken up again once its lease runs out. Only one
run per scope at a time: a run for everything conflicts with every other run of its kind. Each run has
a time limit, and its progress (each stage's output) is saved as it goes.

A run belongs to the organization it was started for, and is worked for that organization only: the workers
take runs of every organization, each with the organization stored with it. A schedule starts one run per
organization that has something new for it (see ``RunRepository.organizations_with_news``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from prometheus_client import Counter, Gauge, Histogram

from learning_svc.service_layer.organizations import owner
from learning_svc.service_layer.ports import ClaimedRun, Document, Filters, RunKind, UnitsOfWork
from svckit.errors import FailedPrecondition, NotFound
from svckit.pagination import PageTokens, page_size
from svckit.usecase import Mutation, Page, run_idempotent

log = logging.getLogger("learning.runs")

RUNS_FINISHED = Counter("sparring_learning_runs_total", "Background runs finished, by kind and final state.",
                        ("kind", "state"))
RUN_SECONDS = Histogram("sparring_learning_run_seconds", "How long background runs take once claimed.", ("kind",),
                        buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))
RUNS_WAITING = Gauge("sparring_learning_runs_waiting", "Runs QUEUED or RUNNING, as last seen by this replica.")


class RunState(StrEnum):
    QUEUED = "RUN_STATE_QUEUED"
    RUNNING = "RUN_STATE_RUNNING"
    SUCCEEDED = "RUN_STATE_SUCCEEDED"
    FAILED = "RUN_STATE_FAILED"


class RunTrigger(StrEnum):
    MANUAL = "RUN_TRIGGER_MANUAL"
    SCHEDULED = "RUN_TRIGGER_SCHEDULED"


COLLECTIONS = {RunKind.EVOLUTION: "evolutionRuns", RunKind.LEARNING: "learningRuns"}
CREATE_METHODS = {RunKind.EVOLUTION: "CreateEvolutionRun", RunKind.LEARNING: "CreateLearningRun"}
# The document field holding a run's scope.
SCOPE_FIELDS = {RunKind.EVOLUTION: "archetype", RunKind.LEARNING: "persona"}

Save = Callable[[Document], Awaitable[None]]
# Works a run: given the organization it is worked for, its document and a way to save progress, returns the
# final document.
Executor = Callable[[str, Document, Save], Awaitable[Document]]
# The queue's own questions look at every organization's runs: the organization its units of work are made for.
EVERY_ORGANIZATION = ""


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class _Queued:
    """The answer a retried start gets back."""

    document: Document


@dataclass(frozen=True)
class RunLimits:
    lease_seconds: float = 30.0
    timeout_seconds: float = 600.0
    poll_seconds: float = 5.0


class RunQueue:
    def __init__(self, units: UnitsOfWork, page_tokens: PageTokens, limits: RunLimits) -> None:
        self._units = units
        self._tokens = page_tokens
        self._limits = limits
        self._executors: dict[RunKind, Executor] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def register(self, kind: RunKind, executor: Executor) -> None:
        self._executors[kind] = executor

    # --- requests -----------------------------------------------------------------------------

    async def start(self, kind: RunKind, organization: str, document: Document, trigger: RunTrigger,
                    mutation: Mutation | None) -> Document:
        """Queues a run for ``organization``; refused while a run of an overlapping scope is QUEUED or RUNNING
        in that organization."""
        run_id = str(uuid.uuid4())
        scope = document.get(SCOPE_FIELDS[kind], "")
        queued = {**document, "name": f"{COLLECTIONS[kind]}/{run_id}", "state": RunState.QUEUED.value,
                  "trigger": trigger.value, "create_time": _now(),
                  "requested_by": mutation.caller.actor if mutation else "scheduler"}

        async with self._units.transaction(owner(organization)) as uow:
            async def queue() -> _Queued:
                await uow.runs.lock(f"learning.runs:{kind.value}")
                going = await uow.runs.going(kind, scope)
                if going is not None:
                    name = f"{COLLECTIONS[kind]}/{going}"
                    raise FailedPrecondition(f"{name} is still going for an overlapping scope; wait for it to finish",
                                             reason="RUN_IN_PROGRESS", metadata={"run": name})
                await uow.runs.add(run_id, kind, scope, queued)
                return _Queued(queued)

            if mutation is None:
                started = await queue()
            else:
                started = await run_idempotent(uow.requests, mutation, CREATE_METHODS[kind], queue, _Queued)
            await uow.commit()
        return started.document

    async def start_scheduled(self, kind: RunKind, document: Document, every_seconds: float) -> list[Document]:
        """A SCHEDULED run for each organization with something new for it, unless one was queued for that
        organization less than ``every_seconds`` ago (by any replica)."""
        async with self._units.read(EVERY_ORGANIZATION) as uow:
            organizations = await uow.runs.organizations_with_news(kind)
        started = []
        for organization in organizations:
            run = await self._start_scheduled(kind, organization, document, every_seconds)
            if run is not None:
                started.append(run)
        return started

    async def _start_scheduled(self, kind: RunKind, organization: str, document: Document,
                               every_seconds: float) -> Document | None:
        async with self._units.transaction(organization) as uow:
            await uow.runs.lock(f"learning.schedule:{kind.value}")
            recent = await uow.runs.scheduled_within(kind, every_seconds)
            await uow.commit()
        if recent:
            return None
        try:
            return await self.start(kind, organization, document, RunTrigger.SCHEDULED, None)
        except FailedPrecondition:
            return None  # a run of that scope is going; the next tick tries again

    async def get(self, kind: RunKind, organization: str, run_id: str) -> Document:
        async with self._units.read(organization) as uow:
            document = await uow.runs.get(kind, run_id)
        if document is None:
            raise NotFound(f"{COLLECTIONS[kind]}/{run_id}", reason="RUN_NOT_FOUND")
        return document

    async def list(self, kind: RunKind, organization: str, filters: Filters, requested_size: int,
                   token: str) -> Page[Document]:
        """Newest first; ``filters`` may hold scope, state and decision (learning runs)."""
        size = page_size(requested_size)
        after = self._tokens.decode(token, filters)
        async with self._units.read(organization) as uow:
            listed = await uow.runs.page(kind, filters, after, size + 1)
        kept, next_token = self._tokens.page(listed, size, lambda item: item.cursor, filters)
        return Page([item.item for item in kept], next_token)

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
        started = time.perf_counter()
        final = await self._work_leased(claimed)
        await self._save(claimed.organization, claimed.run_id, {**final, "end_time": _now()}, finished=True)
        RUNS_FINISHED.labels(claimed.kind.value, final["state"]).inc()
        RUN_SECONDS.labels(claimed.kind.value).observe(time.perf_counter() - started)
        return True

    async def _work_leased(self, claimed: ClaimedRun) -> Document:
        """The run's final document, SUCCEEDED or FAILED; its lease renewed while it works."""
        kind, organization, run_id, document = claimed.kind, claimed.organization, claimed.run_id, claimed.document
        lease = asyncio.create_task(self._renew(organization, run_id))
        try:
            final = await asyncio.wait_for(
                self._executors[kind](organization, document, lambda doc: self._save(organization, run_id, doc)),
                self._limits.timeout_seconds)
            return {**final, "state": RunState.SUCCEEDED.value}
        except TimeoutError:
            return {**await self.get(kind, organization, run_id), "state": RunState.FAILED.value,
                    "error": f"timed out after {self._limits.timeout_seconds:g} s"}
        except asyncio.CancelledError:
            raise  # the lease runs out and another replica takes the run up
        except Exception as error:
            log.exception("%s failed", document["name"])
            return {**await self.get(kind, organization, run_id), "state": RunState.FAILED.value,
                    "error": str(error) or type(error).__name__}
        finally:
            lease.cancel()

    async def _claim(self) -> ClaimedRun | None:
        async with self._units.transaction(EVERY_ORGANIZATION) as uow:
            RUNS_WAITING.set(await uow.runs.waiting())
            due = await uow.runs.next_due(list(self._executors))
            if due is None:
                return None
            document = {**due.document, "state": RunState.RUNNING.value,
                        "start_time": due.document.get("start_time") or _now()}
            await uow.runs.lease(due.run_id, document, self._limits.lease_seconds)
            await uow.commit()
        return ClaimedRun(due.kind, due.organization, due.run_id, document)

    async def _renew(self, organization: str, run_id: str) -> None:
        while True:
            await asyncio.sleep(self._limits.lease_seconds / 3)
            async with self._units.transaction(organization) as uow:
                await uow.runs.renew(run_id, self._limits.lease_seconds)
                await uow.commit()

    async def _save(self, organization: str, run_id: str, document: Document, finished: bool = False) -> None:
        async with self._units.transaction(organization) as uow:
            await uow.runs.save(run_id, document, finished)
            await uow.commit()
