"""Prompt patches from the learning loop, and how a rendered prompt takes them in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class PatchTarget(StrEnum):
    VOICE_PROMPT = "voice_prompt"
    SYSTEM_PROMPT = "system_prompt"
    ELEMENTAL_BEHAVIOR = "elemental_behavior"


class PatchSource(StrEnum):
    LIVE = "live"
    UNAVAILABLE = "unavailable"  # the learning service did not answer, and no set of it is known
    DISABLED = "disabled"
    LAST_KNOWN_GOOD = "last_known_good"  # the learning service did not answer: the last set it gave


@dataclass(frozen=True, slots=True)
class PromptPatch:
    name: str
    target: PatchTarget
    text: str


@dataclass(frozen=True, slots=True)
class PatchLookup:
    patches: tuple[PromptPatch, ...]
    source: PatchSource
    confirm_time: datetime | None = None  # LAST_KNOWN_GOOD: when the learning service last gave this set


# Shared instances: renderings are memoised by the identity of the lookup they used.
PATCHES_DISABLED = PatchLookup((), PatchSource.DISABLED)
PATCHES_UNAVAILABLE = PatchLookup((), PatchSource.UNAVAILABLE)


_SECTION_TITLES = {
    PatchTarget.SYSTEM_PROMPT: "Refinements learned from earlier calls",
    PatchTarget.VOICE_PROMPT: "Voice delivery rules",
    PatchTarget.ELEMENTAL_BEHAVIOR: "Behaviour rules",
}


def apply_patches(system_prompt: str, patches: tuple[PromptPatch, ...]) -> str:
    """Patches are surgical additions: each target gets a short section appended, in a fixed order."""
    sections = []
    for target in PatchTarget:
        lines = [f"- {p.text}" for p in patches if p.target == target]
        if lines:
            sections.append(f"{_SECTION_TITLES[target]}:\n" + "\n".join(lines))
    if not sections:
        return system_prompt
    return system_prompt.rstrip() + "\n\n" + "\n\n".join(sections)
