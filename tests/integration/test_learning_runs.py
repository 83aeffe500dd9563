"""The background run queue on a real PostgreSQL: scope conflicts, a dead replica's run taken up again, the
time limit, and schedules that start one run per interval, per organization with something new, across
replicas."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from learning_svc.adapters.unit_of_work import LearningUnitsOfWork
from learning_svc.service_layer.corpus import Corpus
from learning_svc.service_layer.ports import RunKind
from learning_svc.service_layer.run_queue import SCOPE_FIELDS, RunLimits, RunQueue, RunTrigger
from svckit.db import make_engine
from svckit.errors import FailedPrecondition
from svckit.pagination import PageTokens
from tests.security import ORGANIZATION, OTHER_ORGANIZATION

TOKENS = PageTokens.from_secret("test")


@pytest.fixture
async def engine(own_database_url):
    """A database of its own: no learning server of another test works this queue."""
    from learning_svc.app import SPEC

    engine = make_engine(own_database_url, pool_size=4)
    await SPEC.migrate(engine)
    yield engine
    await engine.dispose()


def _runs(engine, **limits) -> RunQueue:
    return RunQueue(LearningUnitsOfWork(engine), TOKENS,
                    RunLimits(**{"lease_seconds": 30, "timeout_seconds": 60, "poll_seconds": 60, **limits}))


async def test_a_run_for_everything_conflicts_with_every_other_run_of_its_kind(engine):
    runs = _runs(engine)
    archetype = f"archetypes/a-{uuid.uuid4().hex[:6]}"
    first = await runs.start(RunKind.EVOLUTION, ORGANIZATION, {"archetype": archetype}, RunTrigger.MANUAL, None)
    with pytest.raises(FailedPrecondition) as same:
        await runs.start(RunKind.EVOLUTION, ORGANIZATION, {"archetype": archetype}, RunTrigger.MANUAL, None)
    assert same.value.reason == "RUN_IN_PROGRESS" and same.value.metadata["run"] == first["name"]
    with pytest.raises(FailedPrecondition):
        await runs.start(RunKind.EVOLUTION, ORGANIZATION, {"archetype": ""}, RunTrigger.MANUAL, None)
    other = await runs.start(RunKind.EVOLUTION, ORGANIZATION, {"archetype": f"{archetype}-other"},
                             RunTrigger.MANUAL, None)
    learning = await runs.start(RunKind.LEARNING, ORGANIZATION, {"persona": ""}, RunTrigger.MANUAL, None)  # other kind
    # Another organization's runs go on beside them.
    elsewhere = await runs.start(RunKind.EVOLUTION, OTHER_ORGANIZATION, {"archetype": ""}, RunTrigger.MANUAL, None)
    assert other["state"] == learning["state"] == elsewhere["state"] == "RUN_STATE_QUEUED"


async def test_a_run_whose_replica_died_is_taken_up_again_once_its_lease_runs_out(engine):
    runs = _runs(engine)
    seen: list[str] = []

    async def execute(organization: str, run: dict, save) -> dict:
        seen.append(run["name"])
        return {**run, "outcome": "done"}

    runs.register(RunKind.LEARNING, execute)
    queued = await runs.start(RunKind.LEARNING, ORGANIZATION, {"persona": "personas/lease"}, RunTrigger.MANUAL, None)
    run_id = queued["name"].split("/")[1]
    async with engine.begin() as connection:  # a replica claimed it, then died
        await connection.execute(sa.text(
            "UPDATE learning.runs SET state = 'RUN_STATE_RUNNING', lease_until = now() + interval '1 hour' "
            "WHERE id = :id"), {"id": run_id})
    assert not await runs.run_next()
    async with engine.begin() as connection:  # ... and its lease ran out
        await connection.execute(sa.text(
            "UPDATE learning.runs SET lease_until = now() - interval '1 second' WHERE id = :id"), {"id": run_id})
    assert await runs.run_next()
    done = await runs.get(RunKind.LEARNING, ORGANIZATION, run_id)
    assert seen == [queued["name"]] and done["state"] == "RUN_STATE_SUCCEEDED" and done["outcome"] == "done"
    assert done["start_time"] and done["end_time"]


async def test_a_run_over_its_time_limit_fails_and_keeps_what_it_saved(engine):
    runs = _runs(engine, timeout_seconds=0.2)
    forever = asyncio.Event()

    async def execute(organization: str, run: dict, save) -> dict:
        await save({**run, "events_scanned": 7})
        await forever.wait()  # never set: the time limit is what ends it
        return run

    runs.register(RunKind.LEARNING, execute)
    queued = await runs.start(RunKind.LEARNING, ORGANIZATION, {"persona": "personas/slow"}, RunTrigger.MANUAL, None)
    assert await runs.run_next()
    failed = await runs.get(RunKind.LEARNING, ORGANIZATION, queued["name"].split("/")[1])
    assert failed["state"] == "RUN_STATE_FAILED" and "timed out" in failed["error"]
    assert failed["events_scanned"] == 7


async def test_a_failing_run_records_its_error(engine):
    runs = _runs(engine)

    async def execute(organization: str, run: dict, save) -> dict:
        raise RuntimeError("persona service unreachable")

    runs.register(RunKind.LEARNING, execute)
    queued = await runs.start(RunKind.LEARNING, ORGANIZATION, {"persona": "personas/broken"}, RunTrigger.MANUAL, None)
    assert await runs.run_next()
    failed = await runs.get(RunKind.LEARNING, ORGANIZATION, queued["name"].split("/")[1])
    assert (failed["state"], failed["error"]) == ("RUN_STATE_FAILED", "persona service unreachable")


async def test_replicas_on_one_schedule_start_one_run_per_interval_for_each_organization_with_news(engine):
    corpus = Corpus(LearningUnitsOfWork(engine), TOKENS)
    for organization in (ORGANIZATION, OTHER_ORGANIZATION):
        await corpus.record_audit(organization, "a1", {"session": "sessions/s1", "persona": "personas/p1",
                                                       "audit_time": datetime.now(UTC).isoformat()})
    replicas = [_runs(engine), _runs(engine)]
    for kind in (RunKind.EVOLUTION, RunKind.LEARNING):
        started = await asyncio.gather(*(r.start_scheduled(kind, {SCOPE_FIELDS[kind]: ""}, 3600) for r in replicas))
        runs = [run for runs in started for run in runs]
        assert sorted(run["requested_by"] for run in runs) == ["scheduler"] * 2
        assert {run["trigger"] for run in runs} == {"RUN_TRIGGER_SCHEDULED"}
        for organization in (ORGANIZATION, OTHER_ORGANIZATION):  # one run each, visible to its organization only
            (listed,) = (await replicas[0].list(kind, organization, {}, 10, "")).items
            assert listed in runs
        assert await replicas[0].start_scheduled(kind, {SCOPE_FIELDS[kind]: ""}, 3600) == []
    # No audit came since the evolution runs started: nothing new for another, however long ago the last one was.
    assert await replicas[0].start_scheduled(RunKind.EVOLUTION, {"archetype": ""}, 0) == []
