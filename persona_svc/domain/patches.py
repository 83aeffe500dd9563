"""Prompt patches from the learning loop, and how a rendered prompt takes them in: a structured patch edits a named
part of what the persona is told before the prompt is rendered; the others are appended as rules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from calls.prompt_parts import Edit, edit_items, edit_text, scope_reaches


class PatchTarget(StrEnum):
    VOICE_PROMPT = "voice_prompt"
    SYSTEM_PROMPT = "system_prompt"
    ELEMENTAL_BEHAVIOR = "elemental_behavior"


class PatchSource(StrEnum):
    LIVE = "live"
    UNAVAILABLE = "unavailable"  # the learning service did not answer, and no set of it is known
    DISABLED = "disabled"
    LAST_KNOWN_GOOD = "last_known_good"  # the learning service did not answer: the last set it gave


class PromptPart(StrEnum):
    ARCHETYPE_GUIDANCE = "archetype_guidance"
    COMMUNICATION_STYLE = "communication_style"
    PERSONALITY_TRAITS = "personality_traits"
    OBJECTION_PATTERNS = "objection_patterns"
    BANNED_PHRASES = "banned_phrases"
    LENGTH_RANGE = "length_range"


@dataclass(frozen=True, slots=True)
class PartChange:
    """A structured patch: one edit of one part, for the personas of its scope."""

    part: PromptPart
    edit: Edit
    find_text: str = ""
    text: str = ""
    words_per_turn: tuple[int, int] | None = None  # LENGTH_RANGE
    persona: str = ""  # "personas/{id}": that persona only
    min_difficulty: int = 0  # with no persona: the difficulties reached; 0 and 0 for all
    max_difficulty: int = 0

    def reaches(self, persona_name: str, difficulty: int) -> bool:
        return scope_reaches(self.persona, self.min_difficulty, self.max_difficulty, persona_name, difficulty)


@dataclass(frozen=True, slots=True)
class PromptPatch:
    name: str
    target: PatchTarget
    text: str
    change: PartChange | None = None  # a structured patch; None: a rule appended to its target's section
    candidate: bool = False  # not published: sent with one rendering (the learning service validating it)


@dataclass(frozen=True, slots=True)
class CandidatePatch:
    """A patch the request of one rendering carries on top of the published ones; it must reach the persona."""

    patch: PromptPatch
    archetype_id: str  # "" for every archetype
    field: str  # where the request holds it, named by an error: "candidate_patches[0]"


@dataclass(frozen=True, slots=True)
class PatchLookup:
    patches: tuple[PromptPatch, ...]
    source: PatchSource
    confirm_time: datetime | None = None  # LAST_KNOWN_GOOD: when the learning service last gave this set
    # The experiment variant of the session rendered, whose modifications the patches end with; "" for none.
    experiment: str = ""
    experiment_variant: str = ""


# Shared instances: renderings are memoised by the identity of the lookup they used.
PATCHES_DISABLED = PatchLookup((), PatchSource.DISABLED)
PATCHES_UNAVAILABLE = PatchLookup((), PatchSource.UNAVAILABLE)


@dataclass(frozen=True, slots=True)
class PromptParts:
    """The parts of what a persona is told that structured patches edit."""

    archetype_guidance: str = ""
    communication_style: str = ""
    personality_traits: tuple[str, ...] = ()
    objection_patterns: tuple[str, ...] = ()
    banned_phrases: tuple[str, ...] = ()
    words_per_turn: tuple[int, int] | None = None

    def rules(self) -> list[str]:
        """The parts told as rules of their own, not through a template's placeholder."""
        rules = []
        if self.banned_phrases:
            rules.append("Never say " + ", ".join(f"'{phrase}'" for phrase in self.banned_phrases) + ".")
        if self.words_per_turn:
            rules.append(f"Keep every answer to {self.words_per_turn[0]}-{self.words_per_turn[1]} words.")
        return rules


def edit_parts(parts: PromptParts, changes: Iterable[PartChange]) -> PromptParts:
    """The parts after each change in turn: a replaced or removed passage is gone from them."""
    for change in changes:
        parts = _edited(parts, change)
    return parts


def _edited(parts: PromptParts, change: PartChange) -> PromptParts:
    edit, find, new = change.edit, change.find_text, change.text
    match change.part:
        case PromptPart.ARCHETYPE_GUIDANCE:
            return replace(parts, archetype_guidance=edit_text(parts.archetype_guidance, edit, find, new))
        case PromptPart.COMMUNICATION_STYLE:
            return replace(parts, communication_style=edit_text(parts.communication_style, edit, find, new))
        case PromptPart.PERSONALITY_TRAITS:
            return replace(parts, personality_traits=edit_items(parts.personality_traits, edit, find, new))
        case PromptPart.OBJECTION_PATTERNS:
            return replace(parts, objection_patterns=edit_items(parts.objection_patterns, edit, find, new))
        case PromptPart.BANNED_PHRASES:
            return replace(parts, banned_phrases=edit_items(parts.banned_phrases, edit, find, new))
        case PromptPart.LENGTH_RANGE:
            return replace(parts, words_per_turn=change.words_per_turn)


_SECTION_TITLES = {
    PatchTarget.SYSTEM_PROMPT: "Refinements learned from earlier calls",
    PatchTarget.VOICE_PROMPT: "Voice delivery rules",
    PatchTarget.ELEMENTAL_BEHAVIOR: "Behaviour rules",
}
_PART_RULES_TITLE = "Rules of this persona"


def apply_patches(system_prompt: str, patches: tuple[PromptPatch, ...], part_rules: Iterable[str] = ()) -> str:
    """Patches that are not structured are surgical additions: each target gets a short section appended, in a fixed
    order, after the rules of the structured patches' parts."""
    sections = []
    rules = [f"- {rule}" for rule in part_rules]
    if rules:
        sections.append(f"{_PART_RULES_TITLE}:\n" + "\n".join(rules))
    for target in PatchTarget:
        lines = [f"- {p.text}" for p in patches if p.target == target and p.change is None]
        if lines:
            sections.append(f"{_SECTION_TITLES[target]}:\n" + "\n".join(lines))
    if not sections:
        return system_prompt
    return system_prompt.rstrip() + "\n\n" + "\n\n".join(sections)
