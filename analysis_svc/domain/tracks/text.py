"""Text rules shared by the tracks' measures."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from calls.turns import Role, Turn, normalise


def lowered(turns: Sequence[Turn], role: Role) -> list[str]:
    """The texts of one side's turns, in call order, as the patterns are written (lower case, plain apostrophes)."""
    return [normalise(turn.text).lower() for turn in sorted(turns, key=lambda t: t.sequence) if turn.role == role]


def kinds_found(texts: Sequence[str], group: str, kinds: Mapping[str, re.Pattern[str]]) -> set[str]:
    """The kinds (named patterns) of ``group`` said at least once in ``texts``, as "group:kind"."""
    return {f"{group}:{kind}" for kind, pattern in kinds.items() if any(pattern.search(text) for text in texts)}


def kinds_in(found: frozenset[str], group: str) -> int:
    """How many kinds of ``group`` are among ``found``."""
    return sum(kind.startswith(f"{group}:") for kind in found)


def turns_matching(texts: Sequence[str], pattern: re.Pattern[str]) -> int:
    return sum(bool(pattern.search(text)) for text in texts)


def share(found: float, full: float) -> float:
    """``found`` out of what a good call needs (``full``), at most 1."""
    return max(0.0, min(1.0, found / full))


def percent(value: float) -> int:
    """0-1 as 0-100, rounded half up and clamped, as the Say Meter rounds."""
    return max(0, min(100, math.floor(100 * value + 0.5)))
