"""Prompt patches: created by hand or by evolution runs, approved, rejected, deactivated and rolled back,
every change kept as a revision; the active ones are read by the persona service on every render."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from learning_svc.domain.patches import (
    MAX_ACTIVE_PER_TARGET,
    PatchAction,
    PatchChange,
    PatchOrigin,
    PatchState,
    PatchTarget,
    PromptPatch,
    check_approvable,
    check_state,
    etag_of,
    revised,
    supersedes_on_approval,
)
from learning_svc.service_layer.store import REQUEST_LOG
from svckit.cache import InvalidatedCache
from svckit.db import RequestLog, autocommit, run_idempotent
from svckit.errors import AlreadyExists, EtagMismatch, FailedPrecondition, NotFound
from svckit.notify import notify
from svckit.pagination import PageTokens, after_cursor, page_size
from svckit.records import from_record, to_record
from svckit.usecase import Mutation, Page

PATCHES_CHANNEL = "learning_patches"


@dataclass(frozen=True)
class Provenance:
    """Where a new patch comes from: an operator's note, or a run's refinement and its validation."""

    origin: PatchOrigin
    motivation: str
    evolution_run: str = ""
    refinement_id: str = ""
    source_audit_count: int = 0
    validated: bool = False
    validation_score: float = 0.0
    baseline_score: float = 0.0
    supersedes: str = ""


@dataclass(frozen=True)
class Rollback:
    patch: PromptPatch
    restored: PromptPatch | None


@dataclass(frozen=True)
class Revision:
    revision: int
    action: PatchAction
    actor: str
    reason: str
    snapshot: PromptPatch
    create_time: datetime


@dataclass(frozen=True)
class ActiveSet:
    patches: list[PromptPatch]
    etag: str


def _patch(row) -> PromptPatch:
    return from_record(PromptPatch, row.document)


class PatchStore:
    """Patch rows inside one transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def get(self, patch_id: str, lock: bool = False) -> PromptPatch:
        query = "SELECT document FROM learning.patches WHERE id = :id" + (" FOR UPDATE" if lock else "")
        row = (await self.connection.execute(sa.text(query), {"id": patch_id})).first()
        if row is None:
            raise NotFound(f"patches/{patch_id}", reason="PATCH_NOT_FOUND")
        return _patch(row)

    async def active(self, archetype: str, target: PatchTarget) -> list[PromptPatch]:
        rows = (await self.connection.execute(sa.text(
            "SELECT document FROM learning.patches WHERE state = 'PATCH_STATE_ACTIVE' AND archetype = :archetype "
            "AND target = :target ORDER BY activate_time, id"), {"archetype": archetype, "target": target.value})).all()
        return [_patch(row) for row in rows]

    async def insert(self, patch: PromptPatch, actor: str, reason: str) -> None:
        inserted = (await self.connection.execute(sa.text(
            "INSERT INTO learning.patches (id, archetype, target, operation, state, document, activate_time, "
            "create_time, evolution_run) VALUES (:id, :archetype, :target, :operation, :state, "
            "CAST(:document AS jsonb), :activate_time, :create_time, :evolution_run) "
            "ON CONFLICT (id) DO NOTHING RETURNING id"),
            self._columns(patch))).first()
        if inserted is None:
            raise AlreadyExists(f"{patch.name} already exists", reason="PATCH_EXISTS")
        await self._revision(patch, PatchAction.CREATE, actor, reason)

    async def save(self, patch: PromptPatch, action: PatchAction, actor: str, reason: str) -> None:
        await self.connection.execute(sa.text(
            "UPDATE learning.patches SET state = :state, document = CAST(:document AS jsonb), "
            "activate_time = :activate_time WHERE id = :id"), self._columns(patch))
        await self._revision(patch, action, actor, reason)

    async def _revision(self, patch: PromptPatch, action: PatchAction, actor: str, reason: str) -> None:
        await self.connection.execute(sa.text(
            "INSERT INTO learning.patch_revisions (patch_id, revision, action, actor, reason, snapshot, create_time) "
            "VALUES (:id, :revision, :action, :actor, :reason, CAST(:snapshot AS jsonb), :time)"),
            {"id": patch.name.removeprefix("patches/"), "revision": patch.revision, "action": action.value,
             "actor": actor, "reason": reason, "snapshot": json.dumps(to_record(patch)), "time": patch.update_time})
        if action in (PatchAction.APPROVE, PatchAction.DEACTIVATE, PatchAction.ROLLBACK, PatchAction.RESTORE,
                      PatchAction.SUPERSEDE):
            await notify(self.connection, PATCHES_CHANNEL, patch.archetype)

    @staticmethod
    def _columns(patch: PromptPatch) -> dict:
        return {"id": patch.name.removeprefix("patches/"), "archetype": patch.archetype, "target": patch.target.value,
                "operation": patch.operation.value, "state": patch.state.value,
                "document": json.dumps(to_record(patch)), "activate_time": patch.activate_time,
                "create_time": patch.create_time, "evolution_run": patch.evolution_run}


async def active_patches(engine: AsyncEngine, archetypes: set[str]) -> list[PromptPatch]:
    """The ACTIVE patches of these archetypes and of all archetypes, in activation order, in one read."""
    async with engine.connect() as connection:
        rows = (await connection.execute(sa.text(
            "SELECT document FROM learning.patches WHERE state = 'PATCH_STATE_ACTIVE' "
            "AND archetype = ANY(:archetypes) ORDER BY activate_time, id"),
            {"archetypes": sorted(archetypes | {""})})).all()
    return [_patch(row) for row in rows]


async def lock_target(connection: AsyncConnection, archetype: str, target: PatchTarget) -> None:
    """Serialises changes to the active set of one archetype and target (supersession, the 50 cap)."""
    await connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                             {"key": f"learning.patches:{archetype}:{target.value}"})


def new_patch(patch_id: str, change: PatchChange, provenance: Provenance, now: datetime) -> PromptPatch:
    return PromptPatch(
        name=f"patches/{patch_id}", archetype=change.archetype, target=change.target, operation=change.operation,
        text=change.text, phrase=change.phrase, words_per_turn=change.words_per_turn, state=PatchState.PROPOSED,
        origin=provenance.origin, evolution_run=provenance.evolution_run, refinement_id=provenance.refinement_id,
        motivation=provenance.motivation, source_audit_count=provenance.source_audit_count,
        validated=provenance.validated, validation_score=provenance.validation_score,
        baseline_score=provenance.baseline_score, supersedes=provenance.supersedes, superseded_by="",
        create_time=now, update_time=now, activate_time=None, revision=1, etag=etag_of(patch_id, 1),
    )


async def approve_in(store: PatchStore, patch: PromptPatch, actor: str, comment: str) -> PromptPatch:
    """Activates a patch inside the caller's transaction, superseding the length range it replaces."""
    if patch.state == PatchState.ACTIVE:
        return patch
    check_approvable(patch)
    await lock_target(store.connection, patch.archetype, patch.target)
    active = await store.active(patch.archetype, patch.target)
    replaced = supersedes_on_approval(patch, active)
    if len(active) - (replaced is not None) >= MAX_ACTIVE_PER_TARGET:
        raise FailedPrecondition(
            f"{MAX_ACTIVE_PER_TARGET} patches are already active for this archetype and target; deactivate one first",
            reason="TOO_MANY_ACTIVE_PATCHES", metadata={"archetype": patch.archetype or "all",
                                                        "target": patch.target.value})
    now = datetime.now(UTC)
    approved = revised(patch, now, state=PatchState.ACTIVE, activate_time=now,
                       supersedes=replaced.name if replaced else patch.supersedes)
    if replaced is not None:
        await store.save(revised(replaced, now, state=PatchState.SUPERSEDED, superseded_by=patch.name),
                         PatchAction.SUPERSEDE, actor, f"superseded by {patch.name}")
    await store.save(approved, PatchAction.APPROVE, actor, comment)
    return approved


class Patches:
    def __init__(self, engine: AsyncEngine, page_tokens: PageTokens,
                 active_sets: InvalidatedCache[str, list[PromptPatch]]) -> None:
        self._engine = engine
        self._reads = autocommit(engine)
        self._tokens = page_tokens
        # Active patches per archetype, read on every prompt render; cleared by every change to any active set.
        self.active_sets = active_sets

    async def create(self, patch_id: str, change: PatchChange, motivation: str, mutation: Mutation) -> PromptPatch:
        async def run() -> PromptPatch:
            patch = new_patch(patch_id or str(uuid.uuid4()), change,
                              Provenance(PatchOrigin.MANUAL, motivation), datetime.now(UTC))
            await PatchStore(connection).insert(patch, mutation.caller.actor, motivation)
            return patch

        async with self._engine.connect() as connection, connection.begin():
            return await run_idempotent(RequestLog(connection, REQUEST_LOG), mutation, "CreatePromptPatch", run,
                                        PromptPatch)

    async def get(self, patch_id: str) -> PromptPatch:
        async with self._reads.connect() as connection:
            return await PatchStore(connection).get(patch_id)

    async def list(self, filters: dict, requested_size: int, token: str) -> Page[PromptPatch]:
        size = page_size(requested_size)
        after = self._tokens.decode(token, filters)
        clauses = ["true"]
        for column in ("archetype", "target", "state", "evolution_run"):
            if filters.get(column) is not None:
                clauses.append(f"{column} = :{column}")
        condition, cursor = after_cursor(after, newest_first=True)
        clauses.append(condition)
        query = sa.text(f"SELECT id, create_time, document FROM learning.patches WHERE {' AND '.join(clauses)} "
                        "ORDER BY create_time DESC, id DESC LIMIT :limit")
        async with self._reads.connect() as connection:
            rows = (await connection.execute(query, {**filters, **cursor, "limit": size + 1})).all()
        rows, next_token = self._tokens.page(rows, size, lambda r: [r.create_time.isoformat(), r.id], filters)
        return Page([_patch(row) for row in rows], next_token)

    async def approve(self, patch_id: str, etag: str, comment: str, mutation: Mutation) -> PromptPatch:
        async def change(store: PatchStore, patch: PromptPatch) -> PromptPatch:
            return await approve_in(store, patch, mutation.caller.actor, comment)

        return await self._change(patch_id, etag, mutation, "ApprovePromptPatch", change)

    async def reject(self, patch_id: str, etag: str, reason: str, mutation: Mutation) -> PromptPatch:
        async def change(store: PatchStore, patch: PromptPatch) -> PromptPatch:
            if patch.state == PatchState.REJECTED:
                return patch
            check_state(patch, PatchState.PROPOSED, "rejected")
            rejected = revised(patch, datetime.now(UTC), state=PatchState.REJECTED)
            await store.save(rejected, PatchAction.REJECT, mutation.caller.actor, reason)
            return rejected

        return await self._change(patch_id, etag, mutation, "RejectPromptPatch", change)

    async def deactivate(self, patch_id: str, etag: str, reason: str, mutation: Mutation) -> PromptPatch:
        async def change(store: PatchStore, patch: PromptPatch) -> PromptPatch:
            if patch.state == PatchState.DEACTIVATED:
                return patch
            check_state(patch, PatchState.ACTIVE, "deactivated")
            await lock_target(store.connection, patch.archetype, patch.target)
            deactivated = revised(patch, datetime.now(UTC), state=PatchState.DEACTIVATED)
            await store.save(deactivated, PatchAction.DEACTIVATE, mutation.caller.actor, reason)
            return deactivated

        return await self._change(patch_id, etag, mutation, "DeactivatePromptPatch", change)

    async def rollback(self, patch_id: str, etag: str, reason: str, mutation: Mutation) -> Rollback:
        async def change(store: PatchStore, patch: PromptPatch) -> Rollback:
            check_state(patch, PatchState.ACTIVE, "rolled back")
            await lock_target(store.connection, patch.archetype, patch.target)
            now = datetime.now(UTC)
            rolled_back = revised(patch, now, state=PatchState.ROLLED_BACK)
            await store.save(rolled_back, PatchAction.ROLLBACK, mutation.caller.actor, reason)
            restored = None
            if patch.supersedes:
                previous = await store.get(patch.supersedes.removeprefix("patches/"), lock=True)
                if previous.state == PatchState.SUPERSEDED:
                    restored = revised(previous, now, state=PatchState.ACTIVE, activate_time=now, superseded_by="")
                    await store.save(restored, PatchAction.RESTORE, mutation.caller.actor,
                                     f"{patch.name} was rolled back")
            return Rollback(rolled_back, restored)

        return await self._change(patch_id, etag, mutation, "RollbackPromptPatch", change, Rollback)

    async def _change(self, patch_id, etag, mutation, method, change, result_type=PromptPatch):
        async with self._engine.connect() as connection, connection.begin():
            store = PatchStore(connection)

            async def run():
                patch = await store.get(patch_id, lock=True)
                if etag and etag != patch.etag:
                    raise EtagMismatch(patch.name, etag, patch.etag)
                return await change(store, patch)

            result = await run_idempotent(RequestLog(connection, REQUEST_LOG), mutation, method, run, result_type)
        # This replica reads its own writes at once; the others hear the NOTIFY sent with the change.
        self.active_sets.clear()
        return result

    async def revisions(self, patch_id: str, requested_size: int, token: str) -> Page[Revision]:
        size = page_size(requested_size)
        filters = {"patch": patch_id}
        after = self._tokens.decode(token, filters)
        async with self._reads.connect() as connection:
            await PatchStore(connection).get(patch_id)
            rows = (await connection.execute(sa.text(
                "SELECT * FROM learning.patch_revisions WHERE patch_id = :id AND revision < :before "
                "ORDER BY revision DESC LIMIT :limit"),
                {"id": patch_id, "before": after if after is not None else 2**62, "limit": size + 1})).all()
        rows, next_token = self._tokens.page(rows, size, lambda r: r.revision, filters)
        return Page([Revision(r.revision, PatchAction(r.action), r.actor, r.reason,
                              from_record(PromptPatch, r.snapshot), r.create_time) for r in rows], next_token)

    async def active_set(self, archetype: str, targets: list[PatchTarget]) -> ActiveSet:
        """Patches for all archetypes first, then the archetype's own, each in activation order."""
        async def load() -> list[PromptPatch]:
            async with self._reads.connect() as connection:
                rows = (await connection.execute(sa.text(
                    "SELECT document FROM learning.patches WHERE state = 'PATCH_STATE_ACTIVE' "
                    "AND archetype IN ('', :archetype) ORDER BY archetype <> '', activate_time, id"),
                    {"archetype": archetype})).all()
            return [_patch(row) for row in rows]

        active = await self.active_sets.get_or_load(archetype, load) or []
        patches = [patch for patch in active if not targets or patch.target in targets]
        digest = hashlib.sha256("|".join(f"{p.name}:{p.revision}" for p in patches).encode()).hexdigest()[:16]
        return ActiveSet(patches, digest)
