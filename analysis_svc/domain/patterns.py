"""How the local engine's phrase lists become patterns, for every language and track."""

from __future__ import annotations

import re

# Speech-to-text writes Spanish accents most of the time and sometimes drops them.
_ACCENTED = {"á": "[aá]", "é": "[eé]", "í": "[ií]", "ó": "[oó]", "ú": "[uúü]"}


def whole_words(*alternatives: str) -> re.Pattern[str]:
    """Whole-word alternatives, matched on lowered text.

    Lookarounds rather than \\b, so that alternatives may start with a symbol such as "$". Case-sensitive on lowered
    text: re.IGNORECASE folds case at every character tried and is more than twice as slow."""
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


def accents_optional(alternative: str) -> str:
    """The pattern with each accented letter matching with or without its accent."""
    return "".join(_ACCENTED.get(character, character) for character in alternative)


def spanish_words(*alternatives: str) -> re.Pattern[str]:
    """Whole-word Spanish alternatives, each accented letter matching with or without its accent."""
    return whole_words(*map(accents_optional, alternatives))
