"""Repositories of the learning schema, each on the connection of one unit of work and confined to the
organization the unit of work serves: every statement names it, so no row of another organization is read,
changed or counted.

Audits, feedback, runs and experiments are kept as the documents they are served as (contract-shaped
JSON), with the columns their listings filter and order by beside them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from learning_svc.domain.modules import Module, ModuleStatus, Signal, TrainingEventSource
from learning_svc.domain.patches import PatchAction, PatchTarget, PromptPatch
from learning_svc.service_layer.ports import (
    Assignment,
    ClaimedRun,
    Document,
    Filters,
    Listed,
    PendingEvent,
    RecordedScores,
    Revision,
    RunKind,
    TrainingEvent,
)
from svckit.errors import AlreadyExists, NotFound
from svckit.notify import notify
from svckit.pagination import after_cursor
from svckit.records import from_record, to_record

# Every newly recorded audit is announced with its organization and persona ("{organization} {persona}"), for
# whoever waits on the corpus.
AUDITS_CHANNEL = "learning_audits"
# Every change to an active set of patches is announced with its organization and archetype.
PATCHES_CHANNEL = "learning_patches"
# New runs (with their kind) and finished ones ("finished {organization} {name} {state}").
RUNS_CHANNEL = "learning_runs"

_ACTIVE_SET_CHANGES = (PatchAction.APPROVE, PatchAction.DEACTIVATE, PatchAction.ROLLBACK, PatchAction.RESTORE,
                       PatchAction.SUPERSEDE)
_NO_LATER_REVISION = 2**62


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _conditions(filters: Filters, columns: Sequence[str]) -> list[str]:
    return ["organization = :organization",
            *(f"{column} = :{column}" for column in columns if filters.get(column) is not None)]


class _Repository:
    def __init__(self, connection: AsyncConnection, organization: str) -> None:
        self._connection = connection
        self._organization = organization

    async def _execute(self, statement: str, parameters: Mapping[str, Any] | None = None) -> sa.CursorResult[Any]:
        """``statement`` with ``:organization`` bound to the organization served."""
        return await self._connection.execute(sa.text(statement),
                                              {**(parameters or {}), "organization": self._organization})

    async def _lock(self, key: str) -> None:
        await self._execute("SELECT pg_advisory_xact_lock(hashtext(:organization || ':' || :key))", {"key": key})


class AuditRepository(_Repository):
    async def add(self, audit_id: str, document: Document) -> bool:
        inserted = (await self._execute(
            "INSERT INTO learning.audits (organization, id, session, persona, archetype, difficulty, document, "
            "audit_time) VALUES (:organization, :id, :session, :persona, :archetype, :difficulty, "
            "CAST(:document AS jsonb), :audit_time) ON CONFLICT (organization, id) DO NOTHING RETURNING record_time",
            {"id": audit_id, "session": document["session"], "persona": document["persona"],
             "archetype": document.get("archetype", ""), "difficulty": int(document.get("difficulty", 0)),
             "document": json.dumps(document), "audit_time": _time(document["audit_time"])})).first()
        if inserted is None:
            return False
        await notify(self._connection, AUDITS_CHANNEL, f"{self._organization} {document['persona']}")
        return True

    async def get(self, audit_id: str) -> Document | None:
        row = (await self._execute(
            "SELECT document, record_time FROM learning.audits WHERE organization = :organization AND id = :id",
            {"id": audit_id})).first()
        return {**row.document, "record_time": row.record_time.isoformat()} if row is not None else None

    async def page(self, filters: Filters, after: list[str] | None, limit: int) -> list[Listed[Document]]:
        """Newest audit_time first, by archetype, difficulty, persona and a time range."""
        clauses = _conditions(filters, ("archetype", "difficulty", "persona"))
        if filters.get("time_from") is not None:
            clauses.append("audit_time >= :time_from")
        if filters.get("time_to") is not None:
            clauses.append("audit_time < :time_to")
        condition, cursor = after_cursor(after, key="(audit_time, id)", newest_first=True)
        clauses.append(condition)
        rows = (await self._execute(
            f"SELECT id, audit_time, record_time, document FROM learning.audits WHERE {' AND '.join(clauses)} "
            "ORDER BY audit_time DESC, id DESC LIMIT :limit", {**filters, **cursor, "limit": limit})).all()
        return [Listed([row.audit_time.isoformat(), row.id],
                       {**row.document, "record_time": row.record_time.isoformat()}) for row in rows]

    async def recent(self, archetype: str | None, limit: int) -> list[Document]:
        condition = "archetype = :archetype" if archetype is not None else "true"
        rows = (await self._execute(
            f"SELECT document FROM learning.audits WHERE organization = :organization AND {condition} "
            "ORDER BY audit_time DESC, id DESC LIMIT :limit", {"archetype": archetype, "limit": limit})).all()
        return [row.document for row in rows]


class FeedbackRepository(_Repository):
    async def add(self, trace_id: str, document: Document) -> bool:
        inserted = (await self._execute(
            "INSERT INTO learning.feedback (organization, trace_id, document) "
            "VALUES (:organization, :id, CAST(:document AS jsonb)) "
            "ON CONFLICT (organization, trace_id) DO NOTHING RETURNING trace_id",
            {"id": trace_id, "document": json.dumps(document)})).first()
        return inserted is not None

    async def get(self, trace_id: str) -> Document | None:
        row = (await self._execute(
            "SELECT document, create_time FROM learning.feedback "
            "WHERE organization = :organization AND trace_id = :id", {"id": trace_id})).first()
        return {**row.document, "create_time": row.create_time.isoformat()} if row is not None else None


class TrainingEventRepository(_Repository):
    async def add(self, event_id: str, source: TrainingEventSource, origin: str, signal: Signal) -> None:
        await self._execute(
            "INSERT INTO learning.training_events (organization, id, source, origin, persona, module, signal) "
            "VALUES (:organization, :id, :source, :origin, :persona, :module, :signal)",
            {"id": event_id, "source": source.value, "origin": origin, "persona": signal.persona,
             "module": signal.module, "signal": signal.signal})

    async def page(self, filters: Filters, after: int | None, limit: int) -> list[Listed[TrainingEvent]]:
        """Oldest first."""
        clauses = ["position > :after", *_conditions(filters, ("persona", "source", "processed", "learning_run"))]
        rows = (await self._execute(
            f"SELECT * FROM learning.training_events WHERE {' AND '.join(clauses)} ORDER BY position LIMIT :limit",
            {**filters, "after": after or 0, "limit": limit})).all()
        return [Listed(row.position, TrainingEvent(row.id, TrainingEventSource(row.source), row.origin, row.persona,
                                                   row.module, row.signal, row.processed, row.learning_run,
                                                   row.create_time, row.process_time))
                for row in rows]

    async def unprocessed(self, persona: str, limit: int) -> list[PendingEvent]:
        rows = (await self._execute(
            "SELECT id, persona, module, signal FROM learning.training_events WHERE organization = :organization "
            "AND NOT processed AND (persona = :persona OR :persona = '') ORDER BY position LIMIT :limit",
            {"persona": persona, "limit": limit})).all()
        return [PendingEvent(row.id, row.persona, row.module, row.signal) for row in rows]

    async def mark_processed(self, event_ids: Sequence[str], learning_run: str) -> int:
        marked = (await self._execute(
            "UPDATE learning.training_events SET processed = true, learning_run = :run, process_time = now() "
            "WHERE organization = :organization AND id = ANY(:ids) AND NOT processed RETURNING id",
            {"run": learning_run, "ids": list(event_ids)})).all()
        return len(marked)


class ModuleRepository(_Repository):
    async def of_personas(self, personas: Sequence[str]) -> dict[tuple[str, str], Module]:
        rows = (await self._execute(
            "SELECT * FROM learning.modules WHERE organization = :organization AND persona = ANY(:personas)",
            {"personas": list(personas)})).all()
        return {(row.persona, row.module): Module(row.persona, row.module, row.positive, row.negative,
                                                  ModuleStatus(row.status), row.event_count) for row in rows}

    async def save(self, module: Module) -> None:
        await self._execute(
            "INSERT INTO learning.modules (organization, persona, module, positive, negative, status, event_count) "
            "VALUES (:organization, :persona, :module, :positive, :negative, :status, :event_count) "
            "ON CONFLICT (organization, persona, module) DO UPDATE SET positive = excluded.positive, "
            "negative = excluded.negative, status = excluded.status, event_count = excluded.event_count, "
            "update_time = now()",
            {"persona": module.persona, "module": module.module, "positive": module.positive,
             "negative": module.negative, "status": module.status.value, "event_count": module.event_count})


def _patch(document: dict[str, Any]) -> PromptPatch:
    return from_record(PromptPatch, document)


class PatchRepository(_Repository):
    async def get(self, patch_id: str, lock: bool = False) -> PromptPatch:
        query = "SELECT document FROM learning.patches WHERE organization = :organization AND id = :id"
        row = (await self._execute(query + (" FOR UPDATE" if lock else ""), {"id": patch_id})).first()
        if row is None:
            raise NotFound(f"patches/{patch_id}", reason="PATCH_NOT_FOUND")
        return _patch(row.document)

    async def add(self, patch: PromptPatch, actor: str, reason: str) -> None:
        inserted = (await self._execute(
            "INSERT INTO learning.patches (organization, id, archetype, target, operation, state, document, "
            "activate_time, create_time, evolution_run) VALUES (:organization, :id, :archetype, :target, :operation, "
            ":state, CAST(:document AS jsonb), :activate_time, :create_time, :evolution_run) "
            "ON CONFLICT (organization, id) DO NOTHING RETURNING id",
            self._columns(patch))).first()
        if inserted is None:
            raise AlreadyExists(f"{patch.name} already exists", reason="PATCH_EXISTS")
        await self._revision(patch, PatchAction.CREATE, actor, reason)

    async def save(self, patch: PromptPatch, action: PatchAction, actor: str, reason: str) -> None:
        await self._execute(
            "UPDATE learning.patches SET state = :state, document = CAST(:document AS jsonb), "
            "activate_time = :activate_time WHERE organization = :organization AND id = :id", self._columns(patch))
        await self._revision(patch, action, actor, reason)

    async def _revision(self, patch: PromptPatch, action: PatchAction, actor: str, reason: str) -> None:
        await self._execute(
            "INSERT INTO learning.patch_revisions (organization, patch_id, revision, action, actor, reason, snapshot, "
            "create_time) VALUES (:organization, :id, :revision, :action, :actor, :reason, "
            "CAST(:snapshot AS jsonb), :time)",
            {"id": patch.name.removeprefix("patches/"), "revision": patch.revision, "action": action.value,
             "actor": actor, "reason": reason, "snapshot": json.dumps(to_record(patch)), "time": patch.update_time})
        if action in _ACTIVE_SET_CHANGES:
            await notify(self._connection, PATCHES_CHANNEL, f"{self._organization} {patch.archetype}")

    @staticmethod
    def _columns(patch: PromptPatch) -> dict[str, Any]:
        return {"id": patch.name.removeprefix("patches/"), "archetype": patch.archetype, "target": patch.target.value,
                "operation": patch.operation.value, "state": patch.state.value,
                "document": json.dumps(to_record(patch)), "activate_time": patch.activate_time,
                "create_time": patch.create_time, "evolution_run": patch.evolution_run}

    async def lock_target(self, archetype: str, target: PatchTarget) -> None:
        await self._lock(f"learning.patches:{archetype}:{target.value}")

    async def active(self, archetype: str, target: PatchTarget) -> list[PromptPatch]:
        rows = (await self._execute(
            "SELECT document FROM learning.patches WHERE organization = :organization "
            "AND state = 'PATCH_STATE_ACTIVE' AND archetype = :archetype AND target = :target "
            "ORDER BY activate_time, id", {"archetype": archetype, "target": target.value})).all()
        return [_patch(row.document) for row in rows]

    async def active_of(self, archetypes: set[str]) -> list[PromptPatch]:
        rows = (await self._execute(
            "SELECT document FROM learning.patches WHERE organization = :organization "
            "AND state = 'PATCH_STATE_ACTIVE' AND archetype = ANY(:archetypes) ORDER BY activate_time, id",
            {"archetypes": sorted(archetypes | {""})})).all()
        return [_patch(row.document) for row in rows]

    async def active_for_render(self, archetype: str) -> list[PromptPatch]:
        rows = (await self._execute(
            "SELECT document FROM learning.patches WHERE organization = :organization "
            "AND state = 'PATCH_STATE_ACTIVE' AND archetype IN ('', :archetype) "
            "ORDER BY archetype <> '', activate_time, id", {"archetype": archetype})).all()
        return [_patch(row.document) for row in rows]

    async def page(self, filters: Filters, after: list[str] | None, limit: int) -> list[Listed[PromptPatch]]:
        clauses = _conditions(filters, ("archetype", "target", "state", "evolution_run"))
        condition, cursor = after_cursor(after, newest_first=True)
        clauses.append(condition)
        rows = (await self._execute(
            f"SELECT id, create_time, document FROM learning.patches WHERE {' AND '.join(clauses)} "
            "ORDER BY create_time DESC, id DESC LIMIT :limit", {**filters, **cursor, "limit": limit})).all()
        return [Listed([row.create_time.isoformat(), row.id], _patch(row.document)) for row in rows]

    async def revisions(self, patch_id: str, before: int | None, limit: int) -> list[Listed[Revision]]:
        rows = (await self._execute(
            "SELECT * FROM learning.patch_revisions WHERE organization = :organization AND patch_id = :id "
            "AND revision < :before ORDER BY revision DESC LIMIT :limit",
            {"id": patch_id, "before": before if before is not None else _NO_LATER_REVISION, "limit": limit})).all()
        return [Listed(row.revision, Revision(row.revision, PatchAction(row.action), row.actor, row.reason,
                                              _patch(row.snapshot), row.create_time)) for row in rows]


class ExperimentRepository(_Repository):
    async def add(self, experiment_id: str, document: Document) -> bool:
        inserted = (await self._execute(
            "INSERT INTO learning.experiments (organization, id, state, document) "
            "VALUES (:organization, :id, :state, CAST(:document AS jsonb)) "
            "ON CONFLICT (organization, id) DO NOTHING RETURNING id",
            {"id": experiment_id, "state": document["state"], "document": json.dumps(document)})).first()
        return inserted is not None

    async def get(self, experiment_id: str, lock: bool = False) -> Document | None:
        query = "SELECT document FROM learning.experiments WHERE organization = :organization AND id = :id"
        row = (await self._execute(query + (" FOR UPDATE" if lock else ""), {"id": experiment_id})).first()
        return row.document if row is not None else None

    async def save(self, document: Document) -> None:
        await self._execute(
            "UPDATE learning.experiments SET state = :state, document = CAST(:document AS jsonb) "
            "WHERE organization = :organization AND id = :id",
            {"id": document["name"].removeprefix("experiments/"), "state": document["state"],
             "document": json.dumps(document)})

    async def page(self, filters: Filters, after: list[str] | None, limit: int) -> list[Listed[Document]]:
        clauses = ["organization = :organization"]
        if filters.get("state"):
            clauses.append("state = :state")
        if filters.get("persona"):
            clauses.append("document -> 'variants' @> CAST(:persona_match AS jsonb)")
        condition, cursor = after_cursor(after, newest_first=True)
        clauses.append(condition)
        params = {**filters, **cursor, "limit": limit,
                  "persona_match": json.dumps([{"persona": filters.get("persona")}])}
        rows = (await self._execute(
            f"SELECT id, create_time, document FROM learning.experiments WHERE {' AND '.join(clauses)} "
            "ORDER BY create_time DESC, id DESC LIMIT :limit", params)).all()
        return [Listed([row.create_time.isoformat(), row.id], row.document) for row in rows]

    async def assignment(self, experiment_id: str, session_id: str) -> Assignment | None:
        row = (await self._execute(
            "SELECT * FROM learning.assignments WHERE organization = :organization "
            "AND experiment_id = :experiment AND session_id = :session",
            {"experiment": experiment_id, "session": session_id})).first()
        if row is None:
            return None
        return Assignment(f"experiments/{experiment_id}/assignments/{session_id}", f"sessions/{session_id}",
                          row.variant_id, row.persona, row.create_time)

    async def assign(self, experiment_id: str, session_id: str, variant_id: str, persona: str) -> None:
        await self._execute(
            "INSERT INTO learning.assignments (organization, experiment_id, session_id, variant_id, persona) "
            "VALUES (:organization, :experiment, :session, :variant, :persona) ON CONFLICT DO NOTHING",
            {"experiment": experiment_id, "session": session_id, "variant": variant_id, "persona": persona})

    async def recorded_scores(self, experiment_id: str, session_id: str) -> RecordedScores | None:
        row = (await self._execute(
            "SELECT say_meter_score, audit_score FROM learning.outcomes WHERE organization = :organization "
            "AND experiment_id = :experiment AND session_id = :session",
            {"experiment": experiment_id, "session": session_id})).first()
        return RecordedScores(row.say_meter_score, row.audit_score) if row is not None else None

    async def record_scores(self, experiment_id: str, session_id: str, say_meter_score: int | None,
                            audit_score: float | None, counted: bool) -> None:
        await self._execute(
            "INSERT INTO learning.outcomes (organization, experiment_id, session_id, say_meter_score, audit_score, "
            "counted) VALUES (:organization, :experiment, :session, :say, :audit, :counted) "
            "ON CONFLICT (organization, experiment_id, session_id) "
            "DO UPDATE SET say_meter_score = coalesce(outcomes.say_meter_score, excluded.say_meter_score), "
            "audit_score = coalesce(outcomes.audit_score, excluded.audit_score)",
            {"experiment": experiment_id, "session": session_id, "say": say_meter_score, "audit": audit_score,
             "counted": counted})

    async def owe_promotion(self, experiment_id: str, persona: str, promotion: Document) -> None:
        await self._execute(
            "INSERT INTO learning.promotions (organization, experiment_id, persona, promotion) "
            "VALUES (:organization, :experiment, :persona, CAST(:promotion AS jsonb)) ON CONFLICT DO NOTHING",
            {"experiment": experiment_id, "persona": persona, "promotion": json.dumps(promotion)})

    async def experiments_of_session(self, session_id: str) -> list[str]:
        rows = (await self._execute(
            "SELECT experiment_id FROM learning.assignments WHERE organization = :organization "
            "AND session_id = :session", {"session": session_id})).all()
        return [row.experiment_id for row in rows]


class RunRepository(_Repository):
    """The queue of background runs of both kinds: one row per run, claimed with FOR UPDATE SKIP LOCKED and
    leased while a replica works it. The workers serve every organization: ``waiting``, ``next_due``, ``lease`` (of
    the run ``next_due`` claimed) and ``organizations_with_news`` look at all of them; everything else is confined
    to the organization served."""

    async def lock(self, key: str) -> None:
        await self._lock(key)

    async def going(self, kind: RunKind, scope: str) -> str | None:
        row = (await self._execute(
            "SELECT id FROM learning.runs WHERE organization = :organization AND kind = :kind "
            "AND state IN ('RUN_STATE_QUEUED', 'RUN_STATE_RUNNING') "
            "AND (scope = :scope OR scope = '' OR :scope = '') ORDER BY create_time LIMIT 1",
            {"kind": kind.value, "scope": scope})).first()
        return row.id if row is not None else None

    async def add(self, run_id: str, kind: RunKind, scope: str, document: Document) -> None:
        await self._execute(
            "INSERT INTO learning.runs (organization, id, kind, scope, state, trigger, document) "
            "VALUES (:organization, :id, :kind, :scope, :state, :trigger, CAST(:document AS jsonb))",
            {"id": run_id, "kind": kind.value, "scope": scope, "state": document["state"],
             "trigger": document["trigger"], "document": json.dumps(document)})
        await notify(self._connection, RUNS_CHANNEL, kind.value)

    async def scheduled_within(self, kind: RunKind, seconds: float) -> bool:
        recent = (await self._execute(
            "SELECT 1 FROM learning.runs WHERE organization = :organization AND kind = :kind "
            "AND trigger = 'RUN_TRIGGER_SCHEDULED' AND create_time > now() - make_interval(secs => :every)",
            {"kind": kind.value, "every": seconds})).first()
        return recent is not None

    async def organizations_with_news(self, kind: RunKind) -> list[str]:
        """Organizations with something new for a run of ``kind``: for learning, training events not yet
        processed; for evolution, audits recorded since their last evolution run began (or ever, without one)."""
        if kind == RunKind.LEARNING:
            query = "SELECT DISTINCT organization FROM learning.training_events WHERE NOT processed"
        else:
            query = ("SELECT DISTINCT audits.organization FROM learning.audits WHERE audits.record_time > "
                     "coalesce((SELECT max(runs.create_time) FROM learning.runs WHERE runs.kind = 'evolution' "
                     "AND runs.organization = audits.organization), '-infinity')")
        return list((await self._execute(query + " ORDER BY 1")).scalars())

    async def get(self, kind: RunKind, run_id: str) -> Document | None:
        row = (await self._execute(
            "SELECT document FROM learning.runs WHERE organization = :organization AND id = :id AND kind = :kind",
            {"id": run_id, "kind": kind.value})).first()
        return row.document if row is not None else None

    async def page(self, kind: RunKind, filters: Filters, after: list[str] | None,
                   limit: int) -> list[Listed[Document]]:
        """Newest first; ``filters`` may hold scope, state and decision (learning runs)."""
        clauses = ["kind = :kind", *_conditions(filters, ("scope", "state"))]
        if filters.get("decision") is not None:
            clauses.append("document ->> 'decision' = :decision")
        condition, cursor = after_cursor(after, newest_first=True)
        clauses.append(condition)
        rows = (await self._execute(
            f"SELECT id, create_time, document FROM learning.runs WHERE {' AND '.join(clauses)} "
            "ORDER BY create_time DESC, id DESC LIMIT :limit",
            {**filters, **cursor, "kind": kind.value, "limit": limit})).all()
        return [Listed([row.create_time.isoformat(), row.id], row.document) for row in rows]

    async def waiting(self) -> int:
        waiting = (await self._execute(
            "SELECT count(*) FROM learning.runs WHERE state IN ('RUN_STATE_QUEUED', 'RUN_STATE_RUNNING')")).scalar()
        return int(waiting or 0)

    async def next_due(self, kinds: Sequence[RunKind]) -> ClaimedRun | None:
        row = (await self._execute(
            "SELECT organization, id, kind, document FROM learning.runs WHERE kind = ANY(:kinds) "
            "AND (state = 'RUN_STATE_QUEUED' OR (state = 'RUN_STATE_RUNNING' AND lease_until < now())) "
            "ORDER BY create_time LIMIT 1 FOR UPDATE SKIP LOCKED", {"kinds": [kind.value for kind in kinds]})).first()
        return ClaimedRun(RunKind(row.kind), row.organization, row.id, row.document) if row is not None else None

    async def lease(self, run_id: str, document: Document, lease_seconds: float) -> None:
        await self._execute(
            "UPDATE learning.runs SET state = :state, document = CAST(:document AS jsonb), "
            "lease_until = now() + make_interval(secs => :lease) WHERE id = :id",
            {"id": run_id, "state": document["state"], "document": json.dumps(document), "lease": lease_seconds})

    async def renew(self, run_id: str, lease_seconds: float) -> None:
        await self._execute(
            "UPDATE learning.runs SET lease_until = now() + make_interval(secs => :lease) "
            "WHERE organization = :organization AND id = :id", {"id": run_id, "lease": lease_seconds})

    async def save(self, run_id: str, document: Document, finished: bool) -> None:
        await self._execute(
            "UPDATE learning.runs SET document = CAST(:document AS jsonb), state = :state"
            + (", lease_until = NULL" if finished else "") + " WHERE organization = :organization AND id = :id",
            {"id": run_id, "document": json.dumps(document), "state": document["state"]})
        if finished:
            # Whoever waits for the run (an operator's tool, a test) hears of it at once.
            await notify(self._connection, RUNS_CHANNEL,
                         f"finished {self._organization} {document['name']} {document['state']}")
