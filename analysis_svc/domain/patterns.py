"""How the local engine's phrase lists become patterns, for every language and track."""

from __future__ import annotations

import re


def whole_words(*alternatives: str) -> re.Pattern[str]:
    """Whole-word alternatives, matched on lowered text.

    Lookarounds rather than \\b, so that alternatives may start with a symbol such as "$". Case-sensitive on lowered
    text: re.IGNORECASE folds case at every character tried and is more than twice as slow."""
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")
