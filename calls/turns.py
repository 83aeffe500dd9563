"""Turns of a call as the services that judge calls see them: who spoke, in what order, how many words."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_WORD = re.compile(r"\w+(?:'\w+)*")


class Role(StrEnum):
    USER = "user"  # the candidate
    ASSISTANT = "assistant"  # the AI persona


@dataclass(frozen=True, slots=True)
class Turn:
    sequence: int
    role: Role
    text: str


def normalise(text: str) -> str:
    """Typographic apostrophes as plain ones, so that "I'm" matches however speech-to-text wrote it."""
    return text.replace("\u2019", "'").replace("\u2018", "'")


def words(text: str) -> int:
    return len(_WORD.findall(normalise(text)))
