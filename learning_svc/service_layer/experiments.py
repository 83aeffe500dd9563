"""A/B experiments between persona variants on live sessions: deterministic assignment, outcomes folded into
running statistics one at a time, and the sequential (or fixed-horizon) test deciding promotion or a stop.

An experiment is one document row, locked while an outcome is folded in, so results never lose an update."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from learning_svc.domain.experiments import (
    ExperimentMetric,
    ExperimentSettings,
    ExperimentState,
    RunningStats,
    TestMethod,
    Variant,
    bucket,
    counts_outcome,
    evaluate,
    traffic_for_state,
    variant_for_new_session,
)
from learning_svc.service_layer.store import REQUEST_LOG
from svckit.context import current_call
from svckit.db import RequestLog, autocommit, run_idempotent
from svckit.errors import EtagMismatch, FailedPrecondition, NotFound
from svckit.pagination import PageTokens, after_cursor, page_size
from svckit.records import to_record
from svckit.usecase import Mutation, Page

DECISIONS = Counter("sparring_learning_experiment_decisions_total",
                    "Experiments ended by their test, by final state.", ("state",))


@dataclass(frozen=True)
class Assignment:
    name: str
    session: str
    variant_id: str
    persona: str
    create_time: datetime


@dataclass(frozen=True)
class Outcome:
    experiment: dict
    duplicate: bool


@dataclass(frozen=True)
class _Document:
    """The answer a retried request gets back."""

    document: dict


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _variants(document: dict) -> list[Variant]:
    return [Variant(v["variant_id"], v["persona"], v["traffic_bps"], v.get("control", False))
            for v in document["variants"]]


def _settings(document: dict) -> ExperimentSettings:
    return ExperimentSettings(ExperimentMetric(document["metric"]), document["confidence_level"],
                              TestMethod(document["test_method"]), document.get("horizon_samples", 0),
                              document["min_samples"])


def _stopped(document: dict) -> set[str]:
    return {r["variant_id"] for r in document.get("results", []) if r["status"] == "VARIANT_STATUS_STOPPED_WORSE"}


def _touched(document: dict) -> dict:
    version = document.get("version", 0) + 1
    etag = hashlib.sha256(f"{document['name']}:{version}".encode()).hexdigest()[:16]
    return {**document, "version": version, "etag": etag, "update_time": _now()}


class Experiments:
    def __init__(self, engine: AsyncEngine, page_tokens: PageTokens) -> None:
        self._engine = engine
        self._reads = autocommit(engine)
        self._tokens = page_tokens

    async def create(self, experiment_id: str, document: dict, mutation: Mutation) -> dict:
        """``document`` holds the validated settings and variants, defaults filled in."""
        experiment_id = experiment_id or str(uuid.uuid4())
        variants = [Variant(**v) for v in document["variants"]]
        evaluation = evaluate(_settings(document), variants, {}, {}, ())
        created = _touched({**document, "name": f"experiments/{experiment_id}", "state": evaluation.state.value,
                            "winner_variant": "", "stop_reason": "", "results": to_record(evaluation.results),
                            "stats": {}, "create_time": _now()})

        async def run() -> _Document:
            inserted = (await connection.execute(sa.text(
                "INSERT INTO learning.experiments (id, state, document) VALUES (:id, :state, CAST(:document AS jsonb)) "
                "ON CONFLICT (id) DO NOTHING RETURNING id"),
                {"id": experiment_id, "state": created["state"], "document": json.dumps(created)})).first()
            if inserted is None:
                raise FailedPrecondition(f"experiments/{experiment_id} already exists", reason="EXPERIMENT_EXISTS")
            return _Document(created)

        async with self._engine.connect() as connection, connection.begin():
            return (await run_idempotent(RequestLog(connection, REQUEST_LOG), mutation, "CreateExperiment", run,
                                         _Document)).document

    async def get(self, experiment_id: str) -> dict:
        async with self._reads.connect() as connection:
            return await self._load(connection, experiment_id)

    @staticmethod
    async def _load(connection: AsyncConnection, experiment_id: str, lock: bool = False) -> dict:
        row = (await connection.execute(sa.text(
            "SELECT document FROM learning.experiments WHERE id = :id" + (" FOR UPDATE" if lock else "")),
            {"id": experiment_id})).first()
        if row is None:
            raise NotFound(f"experiments/{experiment_id}", reason="EXPERIMENT_NOT_FOUND")
        return row.document

    @staticmethod
    async def _store(connection: AsyncConnection, document: dict) -> None:
        await connection.execute(sa.text(
            "UPDATE learning.experiments SET state = :state, document = CAST(:document AS jsonb) WHERE id = :id"),
            {"id": document["name"].removeprefix("experiments/"), "state": document["state"],
             "document": json.dumps(document)})

    async def list(self, filters: dict, requested_size: int, token: str) -> Page[dict]:
        size = page_size(requested_size)
        after = self._tokens.decode(token, filters)
        clauses = ["true"]
        if filters.get("state"):
            clauses.append("state = :state")
        if filters.get("persona"):
            clauses.append("document -> 'variants' @> CAST(:persona_match AS jsonb)")
        condition, cursor = after_cursor(after, newest_first=True)
        clauses.append(condition)
        params = {**filters, **cursor, "limit": size + 1,
                  "persona_match": json.dumps([{"persona": filters.get("persona")}])}
        async with self._reads.connect() as connection:
            rows = (await connection.execute(sa.text(
                f"SELECT id, create_time, document FROM learning.experiments WHERE {' AND '.join(clauses)} "
                "ORDER BY create_time DESC, id DESC LIMIT :limit"), params)).all()
        rows, next_token = self._tokens.page(rows, size, lambda r: [r.create_time.isoformat(), r.id], filters)
        return Page([row.document for row in rows], next_token)

    async def assign(self, experiment_id: str, session_id: str) -> Assignment:
        """The session's variant: the stored one, or a new assignment by the session's bucket."""
        async with self._engine.connect() as connection, connection.begin():
            document = await self._load(connection, experiment_id)
            existing = await self._assignment(connection, experiment_id, session_id)
            if existing is not None:
                return existing
            variants = _variants(document)
            chosen = variant_for_new_session(variants, _stopped(document), ExperimentState(document["state"]),
                                             document.get("winner_variant", ""), bucket(experiment_id, session_id))
            persona = next(v.persona for v in variants if v.variant_id == chosen)
            await connection.execute(sa.text(
                "INSERT INTO learning.assignments (experiment_id, session_id, variant_id, persona) "
                "VALUES (:experiment, :session, :variant, :persona) ON CONFLICT DO NOTHING"),
                {"experiment": experiment_id, "session": session_id, "variant": chosen, "persona": persona})
            stored = await self._assignment(connection, experiment_id, session_id)
        assert stored is not None
        return stored

    @staticmethod
    async def _assignment(connection: AsyncConnection, experiment_id: str, session_id: str) -> Assignment | None:
        row = (await connection.execute(sa.text(
            "SELECT * FROM learning.assignments WHERE experiment_id = :experiment AND session_id = :session"),
            {"experiment": experiment_id, "session": session_id})).first()
        if row is None:
            return None
        return Assignment(f"experiments/{experiment_id}/assignments/{session_id}", f"sessions/{session_id}",
                          row.variant_id, row.persona, row.create_time)

    async def record_outcome(self, experiment_id: str, session_id: str, say_meter_score: int | None,
                             audit_score: float | None, mutation: Mutation) -> Outcome:
        async def run() -> Outcome:
            document = await self._load(connection, experiment_id, lock=True)
            assignment = await self._assignment(connection, experiment_id, session_id)
            if assignment is None:
                raise FailedPrecondition(f"sessions/{session_id} has no variant in experiments/{experiment_id}; "
                                         "call AssignVariant first", reason="SESSION_NOT_ASSIGNED",
                                         metadata={"session": f"sessions/{session_id}"})
            running = document["state"] == ExperimentState.RUNNING.value
            before = (await connection.execute(sa.text(
                "SELECT say_meter_score, audit_score FROM learning.outcomes "
                "WHERE experiment_id = :experiment AND session_id = :session"),
                {"experiment": experiment_id, "session": session_id})).first()
            new_say = say_meter_score is not None and (before is None or before.say_meter_score is None)
            new_audit = audit_score is not None and (before is None or before.audit_score is None)
            if not (new_say or new_audit):
                return Outcome(document, duplicate=True)
            await connection.execute(sa.text(
                "INSERT INTO learning.outcomes (experiment_id, session_id, say_meter_score, audit_score, counted) "
                "VALUES (:experiment, :session, :say, :audit, :counted) ON CONFLICT (experiment_id, session_id) "
                "DO UPDATE SET say_meter_score = coalesce(outcomes.say_meter_score, excluded.say_meter_score), "
                "audit_score = coalesce(outcomes.audit_score, excluded.audit_score)"),
                {"experiment": experiment_id, "session": session_id, "say": say_meter_score, "audit": audit_score,
                 "counted": running})
            metric = ExperimentMetric(document["metric"])
            value = (say_meter_score if metric == ExperimentMetric.SAY_METER_SCORE and new_say
                     else audit_score if metric == ExperimentMetric.AUDIT_SCORE and new_audit else None)
            if running and value is not None:
                document = self._fold(document, assignment.variant_id, float(value))
                await self._store(connection, document)
            return Outcome(document, duplicate=False)

        async with self._engine.connect() as connection, connection.begin():
            if not mutation.request_id:
                return await run()
            return await run_idempotent(RequestLog(connection, REQUEST_LOG), mutation, "RecordExperimentOutcome",
                                        run, Outcome)

    async def record_audit_outcomes(self, session_id: str, overall_score: float) -> int:
        """An audit of an assigned session is that session's audit-score outcome in each of its experiments;
        returns how many experiments took it (a value already recorded is kept)."""
        async with self._reads.connect() as connection:
            rows = (await connection.execute(sa.text(
                "SELECT experiment_id FROM learning.assignments WHERE session_id = :session"),
                {"session": session_id})).all()
        taken = 0
        for row in rows:
            outcome = await self.record_outcome(row.experiment_id, session_id, None, overall_score,
                                                Mutation(current_call()))
            taken += not outcome.duplicate
        return taken

    @staticmethod
    def _fold(document: dict, variant_id: str, value: float) -> dict:
        settings = _settings(document)
        stats = {key: RunningStats(*numbers) for key, numbers in document.get("stats", {}).items()}
        current = stats.get(variant_id, RunningStats())
        if not counts_outcome(settings, current):
            return document
        stats[variant_id] = current.add(value)
        previous = {r["variant_id"]: r["p_value"] for r in document.get("results", [])}
        evaluation = evaluate(settings, _variants(document), stats, previous, _stopped(document))
        folded = {**document, "stats": {key: [s.count, s.mean, s.m2] for key, s in stats.items()},
                  "results": to_record(evaluation.results), "state": evaluation.state.value,
                  "winner_variant": evaluation.winner_variant, "stop_reason": evaluation.stop_reason}
        if evaluation.state != ExperimentState.RUNNING:
            folded["end_time"] = _now()
            DECISIONS.labels(evaluation.state.value).inc()
        return _touched(folded)

    async def stop(self, experiment_id: str, etag: str, reason: str, mutation: Mutation) -> dict:
        async def run() -> _Document:
            document = await self._load(connection, experiment_id, lock=True)
            if etag and etag != document["etag"]:
                raise EtagMismatch(document["name"], etag, document["etag"])
            if document["state"] == ExperimentState.STOPPED.value:
                return _Document(document)
            if document["state"] == ExperimentState.PROMOTED.value:
                raise FailedPrecondition(f"{document['name']} already ended with a promoted winner",
                                         reason="EXPERIMENT_ENDED", metadata={"winner": document["winner_variant"]})
            traffic = traffic_for_state(_variants(document), _stopped(document), ExperimentState.STOPPED)
            results = [{**r, "current_traffic_bps": traffic[r["variant_id"]]} for r in document.get("results", [])]
            stopped = _touched({**document, "state": ExperimentState.STOPPED.value, "results": results,
                                "stop_reason": reason or "stopped by an operator", "end_time": _now()})
            await self._store(connection, stopped)
            return _Document(stopped)

        async with self._engine.connect() as connection, connection.begin():
            return (await run_idempotent(RequestLog(connection, REQUEST_LOG), mutation, "StopExperiment", run,
                                         _Document)).document
