"""Prompt patches: created by hand or by evolution runs, approved, rejected, deactivated and rolled back,
every change kept as a revision; the active ones are read by the persona service on every render."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TypeVar

from calls import prompt_parts
from learning_svc.domain.modules import Module, published_reinforcements
from learning_svc.domain.patches import (
    MAX_ACTIVE_PER_TARGET,
    PartEdit,
    PatchAction,
    PatchChange,
    PatchOperation,
    PatchOrigin,
    PatchScope,
    PatchState,
    PatchTarget,
    PromptPart,
    PromptPatch,
    check_approvable,
    check_state,
    etag_of,
    revised,
    supersedes_on_approval,
)
from learning_svc.domain.simulation import SimulatedPersona
from learning_svc.service_layer.organizations import owner
from learning_svc.service_layer.ports import Filters, PatchRepository, PersonaReader, Revision, UnitsOfWork
from svckit.cache import InvalidatedCache
from svckit.errors import EtagMismatch, FailedPrecondition, FieldViolation, InvalidArgument
from svckit.pagination import PageTokens, page_size
from svckit.usecase import Mutation, Page, run_idempotent

R = TypeVar("R")


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
class ActiveSet:
    patches: list[PromptPatch]
    etag: str


def module_patch(module: Module, told: str, archetype: str) -> PromptPatch:
    """A published learned module as the persona is told it: a structured patch of that persona alone, added to its
    communication style."""
    persona_id = module.persona.removeprefix("personas/")
    change = PatchChange(archetype, PatchTarget.VOICE_PROMPT, PatchOperation.EDIT_PART, told,
                         part=PromptPart.COMMUNICATION_STYLE, edit=PartEdit.ADD, scope=PatchScope(module.persona))
    provenance = Provenance(PatchOrigin.LEARNED_MODULE, f"Published learned module {module.module} of "
                                                        f"{module.persona}, confidence {module.confidence:.2f}",
                            source_audit_count=module.event_count)
    published = new_patch(f"module-{persona_id}-{module.module}", change, provenance, _MODULES_EPOCH)
    return replace(published, state=PatchState.ACTIVE)


# Module patches are never stored: they carry this fixed time, so that the same module gives the same patch.
_MODULES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def new_patch(patch_id: str, change: PatchChange, provenance: Provenance, now: datetime) -> PromptPatch:
    return PromptPatch(
        name=f"patches/{patch_id}", archetype=change.archetype, target=change.target, operation=change.operation,
        text=change.text, phrase=change.phrase, words_per_turn=change.words_per_turn, state=PatchState.PROPOSED,
        origin=provenance.origin, evolution_run=provenance.evolution_run, refinement_id=provenance.refinement_id,
        motivation=provenance.motivation, source_audit_count=provenance.source_audit_count,
        validated=provenance.validated, validation_score=provenance.validation_score,
        baseline_score=provenance.baseline_score, supersedes=provenance.supersedes, superseded_by="",
        create_time=now, update_time=now, activate_time=None, revision=1, etag=etag_of(patch_id, 1),
        part=change.part, edit=change.edit, find_text=change.find_text, scope=change.scope,
    )


async def approve_in(patches: PatchRepository, patch: PromptPatch, actor: str, comment: str) -> PromptPatch:
    """Activates a patch inside the caller's unit of work, superseding the length range it replaces."""
    if patch.state == PatchState.ACTIVE:
        return patch
    check_approvable(patch)
    await patches.lock_target(patch.archetype, patch.target)
    active = await patches.active(patch.archetype, patch.target)
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
        await patches.save(revised(replaced, now, state=PatchState.SUPERSEDED, superseded_by=patch.name),
                           PatchAction.SUPERSEDE, actor, f"superseded by {patch.name}")
    await patches.save(approved, PatchAction.APPROVE, actor, comment)
    return approved


async def active_patches(units: UnitsOfWork, organization: str, archetypes: set[str]) -> list[PromptPatch]:
    """The organization's ACTIVE patches of these archetypes and of all archetypes, in activation order, in one
    read."""
    async with units.read(organization) as uow:
        return await uow.patches.active_of(archetypes)


# Changes one locked patch inside the unit of work of the request.
Change = Callable[[PatchRepository, PromptPatch], Awaitable[R]]


class Patches:
    def __init__(self, units: UnitsOfWork, page_tokens: PageTokens,
                 active_sets: InvalidatedCache[tuple[str, str], list[PromptPatch]]) -> None:
        self._units = units
        self._tokens = page_tokens
        # Active patches per organization and archetype, read on every prompt render; cleared by every change to
        # any active set.
        self.active_sets = active_sets

    async def create(self, patch_id: str, change: PatchChange, motivation: str, mutation: Mutation) -> PromptPatch:
        async with self._units.transaction(owner(mutation.caller.organization)) as uow:
            async def create() -> PromptPatch:
                patch = new_patch(patch_id or str(uuid.uuid4()), change,
                                  Provenance(PatchOrigin.MANUAL, motivation), datetime.now(UTC))
                await uow.patches.add(patch, mutation.caller.actor, motivation)
                return patch

            created = await run_idempotent(uow.requests, mutation, "CreatePromptPatch", create, PromptPatch)
            await uow.commit()
        return created

    async def get(self, organization: str, patch_id: str) -> PromptPatch:
        async with self._units.read(organization) as uow:
            return await uow.patches.get(patch_id)

    async def list(self, organization: str, filters: Filters, requested_size: int, token: str) -> Page[PromptPatch]:
        size = page_size(requested_size)
        after = self._tokens.decode(token, filters)
        async with self._units.read(organization) as uow:
            listed = await uow.patches.page(filters, after, size + 1)
        kept, next_token = self._tokens.page(listed, size, lambda item: item.cursor, filters)
        return Page([item.item for item in kept], next_token)

    async def approve(self, patch_id: str, etag: str, comment: str, mutation: Mutation) -> PromptPatch:
        async def approve(patches: PatchRepository, patch: PromptPatch) -> PromptPatch:
            return await approve_in(patches, patch, mutation.caller.actor, comment)

        return await self._change(patch_id, etag, mutation, "ApprovePromptPatch", approve, PromptPatch)

    async def reject(self, patch_id: str, etag: str, reason: str, mutation: Mutation) -> PromptPatch:
        async def reject(patches: PatchRepository, patch: PromptPatch) -> PromptPatch:
            if patch.state == PatchState.REJECTED:
                return patch
            check_state(patch, PatchState.PROPOSED, "rejected")
            rejected = revised(patch, datetime.now(UTC), state=PatchState.REJECTED)
            await patches.save(rejected, PatchAction.REJECT, mutation.caller.actor, reason)
            return rejected

        return await self._change(patch_id, etag, mutation, "RejectPromptPatch", reject, PromptPatch)

    async def deactivate(self, patch_id: str, etag: str, reason: str, mutation: Mutation) -> PromptPatch:
        async def deactivate(patches: PatchRepository, patch: PromptPatch) -> PromptPatch:
            if patch.state == PatchState.DEACTIVATED:
                return patch
            check_state(patch, PatchState.ACTIVE, "deactivated")
            await patches.lock_target(patch.archetype, patch.target)
            deactivated = revised(patch, datetime.now(UTC), state=PatchState.DEACTIVATED)
            await patches.save(deactivated, PatchAction.DEACTIVATE, mutation.caller.actor, reason)
            return deactivated

        return await self._change(patch_id, etag, mutation, "DeactivatePromptPatch", deactivate, PromptPatch)

    async def rollback(self, patch_id: str, etag: str, reason: str, mutation: Mutation) -> Rollback:
        async def roll_back(patches: PatchRepository, patch: PromptPatch) -> Rollback:
            check_state(patch, PatchState.ACTIVE, "rolled back")
            await patches.lock_target(patch.archetype, patch.target)
            now = datetime.now(UTC)
            rolled_back = revised(patch, now, state=PatchState.ROLLED_BACK)
            await patches.save(rolled_back, PatchAction.ROLLBACK, mutation.caller.actor, reason)
            restored = None
            if patch.supersedes:
                previous = await patches.get(patch.supersedes.removeprefix("patches/"), lock=True)
                if previous.state == PatchState.SUPERSEDED:
                    restored = revised(previous, now, state=PatchState.ACTIVE, activate_time=now, superseded_by="")
                    await patches.save(restored, PatchAction.RESTORE, mutation.caller.actor,
                                       f"{patch.name} was rolled back")
            return Rollback(rolled_back, restored)

        return await self._change(patch_id, etag, mutation, "RollbackPromptPatch", roll_back, Rollback)

    async def _change(self, patch_id: str, etag: str, mutation: Mutation, method: str, change: Change[R],
                      result_type: type[R]) -> R:
        """``change`` applied to the caller's locked patch once per request id, if the caller's etag still
        matches."""
        async with self._units.transaction(mutation.caller.organization) as uow:
            async def locked_change() -> R:
                patch = await uow.patches.get(patch_id, lock=True)
                if etag and etag != patch.etag:
                    raise EtagMismatch(patch.name, etag, patch.etag)
                return await change(uow.patches, patch)

            result = await run_idempotent(uow.requests, mutation, method, locked_change, result_type)
            await uow.commit()
        # This replica reads its own writes at once; the others hear the NOTIFY sent with the change.
        self.active_sets.clear()
        return result

    async def revisions(self, organization: str, patch_id: str, requested_size: int, token: str) -> Page[Revision]:
        size = page_size(requested_size)
        filters = {"patch": patch_id}
        after = self._tokens.decode(token, filters)
        async with self._units.read(organization) as uow:
            await uow.patches.get(patch_id)
            listed = await uow.patches.revisions(patch_id, after, size + 1)
        kept, next_token = self._tokens.page(listed, size, lambda item: item.cursor, filters)
        return Page([item.item for item in kept], next_token)

    async def active_set(self, organization: str, archetype: str, targets: Sequence[PatchTarget],
                         persona: str = "") -> ActiveSet:
        """The organization's patches for all archetypes first, then the archetype's own, each in activation
        order; then, for a persona, its published learned modules that call for reinforcement (read every time:
        a learning run may publish one at any moment)."""
        async def load() -> list[PromptPatch]:
            async with self._units.read(organization) as uow:
                return await uow.patches.active_for_render(archetype)

        active = await self.active_sets.get_or_load((organization, archetype), load) or []
        if persona:
            async with self._units.read(organization) as uow:
                modules = (await uow.modules.of_personas([persona])).values()
            active = [*active, *(module_patch(module, told, archetype) for module, told
                                 in published_reinforcements(modules))]
        patches = [patch for patch in active if not targets or patch.target in targets]
        # Another organization's set of the same patch names and revisions is another set; a module's text (its
        # confidence) is part of the set.
        listed = "|".join([organization, *(f"{p.name}:{p.revision}:{p.text}" for p in patches)])
        digest = hashlib.sha256(listed.encode()).hexdigest()[:16]
        return ActiveSet(patches, digest)


# A structured patch's target text is looked for in at most this many of the personas it reaches.
MAX_PERSONAS_CHECKED = 200


async def reached_change(change: PatchChange, personas: PersonaReader, active: ActiveSet,
                         organization: str) -> PatchChange:
    """A structured patch as it will be stored: a persona scope's archetype filled in, once the persona it names is
    known and its archetype agrees, and its target text found in at least one persona it reaches (a banned phrase
    in an active patch): INVALID_ARGUMENT naming the field otherwise."""
    part, edit, scope = change.part, change.edit, change.scope
    assert part is not None and edit is not None and scope is not None
    if scope.persona:
        persona = await personas.simulated_persona(scope.persona, organization)
        if persona is None:
            raise InvalidArgument(FieldViolation("patch.scope.persona", f"{scope.persona} is not known to the persona "
                                                                        "service"), reason="UNKNOWN_PERSONA")
        if change.archetype and change.archetype != persona.archetype:
            raise InvalidArgument(FieldViolation("patch.archetype", f"must be empty or the archetype of "
                                                 f"{scope.persona} ({persona.archetype or 'none'})"),
                                  reason="ARCHETYPE_MISMATCH")
        change = replace(change, archetype=persona.archetype)
        reached = [persona]
    else:
        reached = [persona for persona in await personas.personas_of_archetype(change.archetype, MAX_PERSONAS_CHECKED,
                                                                               organization)
                   if scope.reaches(persona.persona, persona.difficulty)]
    if edit is PartEdit.ADD or part is PromptPart.LENGTH_RANGE:
        return change
    if part is PromptPart.BANNED_PHRASES:
        found = any(prompt_parts.items_have([p.phrase if p.operation is PatchOperation.BAN_PHRASE else p.text],
                                            change.find_text) for p in active.patches
                    if p.operation is PatchOperation.BAN_PHRASE or p.part is PromptPart.BANNED_PHRASES)
        where = "no active patch bans it"
    else:
        found = False
        for persona in reached:
            found = found or await _part_has(persona, change, personas, organization)
        where = f"it is in the {part.name.lower()} of none of the {len(reached)} personas the patch reaches"
    if not found:
        raise InvalidArgument(FieldViolation("patch.find_text", f"{change.find_text[:100]!r} cannot be "
                                             f"{edit.name.lower()}d: {where}"), reason="TARGET_TEXT_ABSENT")
    return change


async def edits_persona(change: PatchChange, persona: SimulatedPersona, personas: PersonaReader,
                        organization: str) -> bool:
    """Whether the change, published, would edit this persona's prompt: an addition, a rule or a length range does;
    a passage of the persona's own replaced or removed only where its part has it (the others keep theirs)."""
    if change.part is None or change.edit is PartEdit.ADD or change.part in (PromptPart.LENGTH_RANGE,
                                                                             PromptPart.BANNED_PHRASES):
        return True
    return await _part_has(persona, change, personas, organization)


async def _part_has(persona: SimulatedPersona, change: PatchChange, personas: PersonaReader,
                    organization: str) -> bool:
    if change.part is PromptPart.ARCHETYPE_GUIDANCE:
        guidance = await personas.archetype_guidance(persona.archetype, organization) if persona.archetype else ""
        return prompt_parts.text_has(guidance, change.find_text)
    if change.part is PromptPart.COMMUNICATION_STYLE:
        return prompt_parts.text_has(persona.communication_style, change.find_text)
    items = persona.personality_traits if change.part is PromptPart.PERSONALITY_TRAITS else persona.objection_patterns
    return prompt_parts.items_have(items, change.find_text)
