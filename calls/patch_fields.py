"""The one rule for the fields of a prompt patch as a request carries them. The learning service's PromptPatch and the
persona service's CandidatePatch (a patch rendered for one call) name their fields and enum values alike, so both
are read here by name and checked here, each service naming a violation under its own field path. Pure rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_PATCH_TEXT = 1000
MAX_BANNED_PHRASE = 200
MAX_WORDS_PER_TURN = 200
EDIT_PART = "PATCH_OPERATION_EDIT_PART"
LENGTH_RANGE = "PROMPT_PART_LENGTH_RANGE"
# The edits each part takes: a banned phrase is added or lifted, a length range only replaced; others take any.
_EDITS_OF_PART = {"PROMPT_PART_BANNED_PHRASES": ("PART_EDIT_ADD", "PART_EDIT_REMOVE"),
                  LENGTH_RANGE: ("PART_EDIT_REPLACE",)}


@dataclass(frozen=True)
class PatchFields:
    """A patch's fields as sent: enum values by their contract names ("" when unset or unknown)."""

    archetype: str  # "archetypes/{id}", or "" for every archetype
    operation: str
    part: str
    edit: str
    text: str
    find_text: str
    phrase: str
    words: tuple[int, int] | None  # words_per_turn (min, max); None when unset
    scope: tuple[str, int, int] | None  # (persona, min difficulty, max difficulty); None when unset

    @property
    def structured(self) -> bool:
        return self.operation == EDIT_PART

    @property
    def length_range(self) -> bool:
        return self.operation == "PATCH_OPERATION_CHANGE_LENGTH_RANGE" or self.part == LENGTH_RANGE


def _enum_value_name(message: Any, field: str) -> str:
    descriptor = message.DESCRIPTOR.fields_by_name[field].enum_type.values_by_number.get(getattr(message, field))
    return descriptor.name if descriptor is not None and descriptor.number != 0 else ""


def patch_fields(message: Any) -> PatchFields:
    """The fields of a PromptPatch or CandidatePatch message."""
    words = message.words_per_turn
    scope = message.scope
    return PatchFields(
        archetype=message.archetype, operation=_enum_value_name(message, "operation"),
        part=_enum_value_name(message, "part"), edit=_enum_value_name(message, "edit"), text=message.text,
        find_text=message.find_text, phrase=message.phrase,
        words=(words.min_words, words.max_words) if message.HasField("words_per_turn") else None,
        scope=(scope.persona, scope.min_difficulty, scope.max_difficulty) if message.HasField("scope") else None)


def fitting_edit(part: str, edit: str) -> str | None:
    """Why ``edit`` does not fit ``part``; None when it does."""
    fitting = _EDITS_OF_PART.get(part)
    if fitting is None or edit in fitting:
        return None
    return f"{edit} does not fit {part}, which takes {', '.join(sorted(fitting))}"


def violations(patch: PatchFields, valid_id: Callable[[str], bool]) -> list[tuple[str, str]]:
    """What is wrong with the patch's fields other than its enums' values, each as (field under the patch, why).
    ``valid_id`` is the services' rule for a resource id."""
    found: list[tuple[str, str]] = []
    archetype = patch.archetype
    if archetype and not (archetype.startswith("archetypes/") and valid_id(archetype.removeprefix("archetypes/"))):
        found.append(("archetype", f"must be empty or a resource name like 'archetypes/{{id}}' "
                                   f"(got {archetype[:100]!r})"))

    def require(condition: bool, field: str, description: str) -> None:
        if not condition:
            found.append((field, description))

    edit, part = patch.edit, patch.part
    if patch.structured:
        why = fitting_edit(part, edit) if part and edit else None
        if why is not None:
            found.append(("edit", why))
            edit = ""
    else:
        for name, given in (("part", part), ("edit", edit), ("find_text", patch.find_text),
                            ("scope", patch.scope is not None)):
            require(not given, name, "is only for PATCH_OPERATION_EDIT_PART")
    if edit == "PART_EDIT_REMOVE":
        require(not patch.text, "text", "must be empty for PART_EDIT_REMOVE: find_text names what goes")
    elif part == LENGTH_RANGE:
        require(len(patch.text) <= MAX_PATCH_TEXT, "text", f"must be at most {MAX_PATCH_TEXT} characters")
    else:
        require(0 < len(patch.text.strip()) and len(patch.text) <= MAX_PATCH_TEXT, "text",
                f"is required, at most {MAX_PATCH_TEXT} characters")
    if edit in ("PART_EDIT_REPLACE", "PART_EDIT_REMOVE") and part != LENGTH_RANGE:
        require(0 < len(patch.find_text.strip()) and len(patch.find_text) <= MAX_PATCH_TEXT, "find_text",
                f"is required for {edit.removeprefix('PART_EDIT_')}: the passage or item it edits, at most "
                f"{MAX_PATCH_TEXT} characters")
    elif edit:
        require(not patch.find_text, "find_text", "is only for PART_EDIT_REPLACE and PART_EDIT_REMOVE of a text or "
                                                  "list part")
    if patch.structured and patch.scope is not None:
        found += [(f"scope.{name}", why) for name, why in _scope_violations(*patch.scope, valid_id)]
    if patch.operation == "PATCH_OPERATION_BAN_PHRASE":
        require(0 < len(patch.phrase.strip()) and len(patch.phrase) <= MAX_BANNED_PHRASE, "phrase",
                f"is required for BAN_PHRASE, at most {MAX_BANNED_PHRASE} characters")
    else:
        require(not patch.phrase, "phrase", "is only for PATCH_OPERATION_BAN_PHRASE")
    if patch.length_range:
        low, high = patch.words or (0, 0)
        require(patch.words is not None and 1 <= low <= high <= MAX_WORDS_PER_TURN, "words_per_turn",
                f"is required for a length range, with 1 <= min_words <= max_words <= {MAX_WORDS_PER_TURN} "
                f"(got {low}-{high})")
    else:
        require(patch.words is None, "words_per_turn",
                "is only for PATCH_OPERATION_CHANGE_LENGTH_RANGE and PROMPT_PART_LENGTH_RANGE")
    return found


def _scope_violations(persona: str, low: int, high: int,
                      valid_id: Callable[[str], bool]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if persona:
        if not (persona.startswith("personas/") and valid_id(persona.removeprefix("personas/"))):
            found.append(("persona", f"must be empty or a resource name like 'personas/{{id}}' "
                                     f"(got {persona[:100]!r})"))
        if low or high:
            found.append(("min_difficulty", "a scope of one persona takes no difficulty range"))
    elif (low, high) != (0, 0):
        found += [(name, f"must be between 1 and 5, or both 0 for every difficulty (got {value})")
                  for name, value in (("min_difficulty", low), ("max_difficulty", high)) if not 1 <= value <= 5]
        if low > high:
            found.append(("max_difficulty", f"must be at least min_difficulty ({low}; got {high})"))
    return found
