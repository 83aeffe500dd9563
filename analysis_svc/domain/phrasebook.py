"""The phrases the local engine's measures read a call with, by the call's language (ISO 639-1, ``domain.language``).

A language with no phrases here is read with English's: they still count who talks and who asks, and the reading
says that its language was not understood (``LocalEngine``)."""

from __future__ import annotations

from analysis_svc.domain.conversation import ENGLISH, Phrases
from analysis_svc.domain.phrases_es import SPANISH

BY_LANGUAGE: dict[str, Phrases] = {"en": ENGLISH, "es": SPANISH}
UNDERSTOOD = frozenset(BY_LANGUAGE)


def phrases_for(language: str) -> Phrases:
    """The phrases of ``language``; English's for one with none, or undetermined ("")."""
    return BY_LANGUAGE.get(language, ENGLISH)
