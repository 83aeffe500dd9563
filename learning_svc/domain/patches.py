"""Prompt patches: small surgical changes to persona prompts, and the rules of their lifecycle.

Domain values carry the contract's names (enum values are the proto enum value names, fields the proto
field names), so one converter turns any of them into its message."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TypedDict, Unpack

from calls import patch_fields
from calls.persona_audit import WordRange
from calls.prompt_parts import scope_reaches
from svckit.errors import FailedPrecondition

MAX_ACTIVE_PER_TARGET = 50
MAX_TEXT_CHARS = patch_fields.MAX_PATCH_TEXT
MAX_WORDS_PER_TURN = patch_fields.MAX_WORDS_PER_TURN


class PatchTarget(StrEnum):
    VOICE_PROMPT = "PATCH_TARGET_VOICE_PROMPT"
    SYSTEM_PROMPT = "PATCH_TARGET_SYSTEM_PROMPT"
    ELEMENTAL_BEHAVIOR = "PATCH_TARGET_ELEMENTAL_BEHAVIOR"


class PatchOperation(StrEnum):
    ADD_RULE = "PATCH_OPERATION_ADD_RULE"
    BAN_PHRASE = "PATCH_OPERATION_BAN_PHRASE"
    CHANGE_LENGTH_RANGE = "PATCH_OPERATION_CHANGE_LENGTH_RANGE"
    EDIT_PART = "PATCH_OPERATION_EDIT_PART"


class PromptPart(StrEnum):
    """A named part of what a persona is told; the persona service renders the edited parts."""

    ARCHETYPE_GUIDANCE = "PROMPT_PART_ARCHETYPE_GUIDANCE"
    COMMUNICATION_STYLE = "PROMPT_PART_COMMUNICATION_STYLE"
    PERSONALITY_TRAITS = "PROMPT_PART_PERSONALITY_TRAITS"
    OBJECTION_PATTERNS = "PROMPT_PART_OBJECTION_PATTERNS"
    BANNED_PHRASES = "PROMPT_PART_BANNED_PHRASES"
    LENGTH_RANGE = "PROMPT_PART_LENGTH_RANGE"


class PartEdit(StrEnum):
    ADD = "PART_EDIT_ADD"
    REPLACE = "PART_EDIT_REPLACE"
    REMOVE = "PART_EDIT_REMOVE"


class PatchState(StrEnum):
    PROPOSED = "PATCH_STATE_PROPOSED"
    ACTIVE = "PATCH_STATE_ACTIVE"
    REJECTED = "PATCH_STATE_REJECTED"
    DEACTIVATED = "PATCH_STATE_DEACTIVATED"
    SUPERSEDED = "PATCH_STATE_SUPERSEDED"
    ROLLED_BACK = "PATCH_STATE_ROLLED_BACK"


class PatchOrigin(StrEnum):
    EVOLUTION_RUN = "PATCH_ORIGIN_EVOLUTION_RUN"
    MANUAL = "PATCH_ORIGIN_MANUAL"
    LEARNED_MODULE = "PATCH_ORIGIN_LEARNED_MODULE"
    EXPERIMENT_PROMOTION = "PATCH_ORIGIN_EXPERIMENT_PROMOTION"


class PatchAction(StrEnum):
    CREATE = "PATCH_ACTION_CREATE"
    APPROVE = "PATCH_ACTION_APPROVE"
    REJECT = "PATCH_ACTION_REJECT"
    DEACTIVATE = "PATCH_ACTION_DEACTIVATE"
    ROLLBACK = "PATCH_ACTION_ROLLBACK"
    SUPERSEDE = "PATCH_ACTION_SUPERSEDE"
    RESTORE = "PATCH_ACTION_RESTORE"


@dataclass(frozen=True, slots=True)
class PatchScope:
    """The personas a structured patch reaches besides its archetype: one persona, or a difficulty range."""

    persona: str = ""  # "personas/{id}", or "" for every persona of the archetype
    min_difficulty: int = 0  # 1-5, or 0 with max_difficulty 0 for every difficulty
    max_difficulty: int = 0

    def reaches(self, persona: str, difficulty: int) -> bool:
        return scope_reaches(self.persona, self.min_difficulty, self.max_difficulty, persona, difficulty)


@dataclass(frozen=True, slots=True)
class PatchChange:
    """What a patch does to a prompt; the part an evolution run proposes and an operator writes."""

    archetype: str  # "archetypes/{id}", or "" for all archetypes
    target: PatchTarget
    operation: PatchOperation
    text: str  # the instruction inserted into the prompt; EDIT_PART: the new text ("" for REMOVE)
    phrase: str = ""  # BAN_PHRASE only
    words_per_turn: WordRange | None = None  # CHANGE_LENGTH_RANGE, and EDIT_PART of the length range
    part: PromptPart | None = None  # EDIT_PART only, as are the three below
    edit: PartEdit | None = None
    find_text: str = ""  # REPLACE and REMOVE: the passage or item edited
    scope: PatchScope | None = None


@dataclass(frozen=True, slots=True)
class PromptPatch:
    name: str  # "patches/{id}"
    archetype: str
    target: PatchTarget
    operation: PatchOperation
    text: str
    phrase: str
    words_per_turn: WordRange | None
    state: PatchState
    origin: PatchOrigin
    evolution_run: str
    refinement_id: str
    motivation: str
    source_audit_count: int
    validated: bool
    validation_score: float
    baseline_score: float
    supersedes: str
    superseded_by: str
    create_time: datetime
    update_time: datetime
    activate_time: datetime | None
    revision: int
    etag: str
    part: PromptPart | None = None
    edit: PartEdit | None = None
    find_text: str = ""
    scope: PatchScope | None = None

    @property
    def change(self) -> PatchChange:
        return PatchChange(self.archetype, self.target, self.operation, self.text, self.phrase, self.words_per_turn,
                           self.part, self.edit, self.find_text, self.scope)


def etag_of(patch_id: str, revision: int) -> str:
    return hashlib.sha256(f"{patch_id}:{revision}".encode()).hexdigest()[:16]


class PatchChanges(TypedDict, total=False):
    """What a change of state may change besides the state."""

    state: PatchState
    activate_time: datetime | None
    supersedes: str
    superseded_by: str


def revised(patch: PromptPatch, now: datetime, **changes: Unpack[PatchChanges]) -> PromptPatch:
    """The patch after one change: a new revision and etag."""
    revision = patch.revision + 1
    patch_id = patch.name.removeprefix("patches/")
    return replace(patch, update_time=now, revision=revision, etag=etag_of(patch_id, revision), **changes)


def check_approvable(patch: PromptPatch) -> None:
    """PROPOSED and DEACTIVATED patches can be approved (ACTIVE ones are returned unchanged by the caller)."""
    if patch.state == PatchState.REJECTED:
        raise FailedPrecondition(f"{patch.name} was rejected; rejection is final", reason="PATCH_REJECTED",
                                 metadata={"patch": patch.name})
    if patch.state not in (PatchState.PROPOSED, PatchState.DEACTIVATED):
        raise _invalid_state(patch, "approved")


def check_state(patch: PromptPatch, allowed: PatchState, verb: str) -> None:
    if patch.state != allowed:
        raise _invalid_state(patch, verb)


def _invalid_state(patch: PromptPatch, verb: str) -> FailedPrecondition:
    return FailedPrecondition(f"{patch.name} is {patch.state.name} and cannot be {verb}", reason="INVALID_PATCH_STATE",
                              metadata={"patch": patch.name, "state": patch.state.value})


def supersedes_on_approval(patch: PromptPatch, active: list[PromptPatch]) -> PromptPatch | None:
    """Only one length range is in force per archetype and target: approving a new one replaces the old."""
    if patch.operation != PatchOperation.CHANGE_LENGTH_RANGE:
        return None
    return next((p for p in active if p.operation == PatchOperation.CHANGE_LENGTH_RANGE and p.name != patch.name),
                None)
