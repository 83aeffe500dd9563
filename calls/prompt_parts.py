"""How a structured prompt patch edits a named part of what a persona is told: a text (a guidance, a style) or a
list of items (traits, objection patterns, banned phrases), and which personas its scope reaches. Shared by the
persona service, which renders the edited parts, and the learning service, which refuses a patch whose target is in
no persona it reaches and validates a patch on every persona it reaches: both find a target and a persona the same
way. Pure rules."""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum


class Edit(StrEnum):
    ADD = "add"
    REPLACE = "replace"
    REMOVE = "remove"


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _passage(find: str) -> re.Pattern[str]:
    """The passage as written, whatever its case and spacing."""
    return re.compile(r"\s+".join(map(re.escape, find.split())), re.IGNORECASE)


def text_has(text: str, find: str) -> bool:
    return bool(find.split()) and _passage(find).search(text) is not None


def items_have(items: Sequence[str], find: str) -> bool:
    return any(_key(item) == _key(find) for item in items)


def edit_text(text: str, edit: Edit, find: str, new: str) -> str:
    """ADD appends a sentence; REPLACE and REMOVE change every occurrence of the passage (none: unchanged)."""
    if edit is Edit.ADD:
        return f"{text.rstrip()} {new}".strip()
    edited = _passage(find).sub(new.replace("\\", "\\\\") if edit is Edit.REPLACE else "", text)
    return re.sub(r"[ \t]{2,}", " ", re.sub(r"\s+([.,;:!?])", r"\1", edited)).strip()


def edit_items(items: Sequence[str], edit: Edit, find: str, new: str) -> tuple[str, ...]:
    """ADD appends an item (once); REPLACE and REMOVE change the items equal to ``find`` (none: unchanged)."""
    if edit is Edit.ADD:
        return tuple(items) if items_have(items, new) else (*items, new)
    edited = [new if edit is Edit.REPLACE and _key(item) == _key(find) else item for item in items
              if edit is not Edit.REMOVE or _key(item) != _key(find)]
    return tuple(dict.fromkeys(edited))


def scope_reaches(scope_persona: str, min_difficulty: int, max_difficulty: int, persona: str, difficulty: int) -> bool:
    """Whether a scope (one persona, or a difficulty range; 0 and 0 for every difficulty) reaches a persona."""
    if scope_persona:
        return scope_persona == persona
    return min_difficulty == 0 or min_difficulty <= difficulty <= max_difficulty
