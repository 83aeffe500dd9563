"""The phrases the local engine's measures read a call with, and the texts its suggestions are written in, by the
call's language (ISO 639-1, ``domain.language``).

A language with no phrases here is read with English's: they still count who talks and who asks, and the reading
says that its language was not understood (``LocalEngine``); its suggestions are written in English."""

from __future__ import annotations

from analysis_svc.domain import interviewer_texts
from analysis_svc.domain.conversation import ENGLISH, Phrases
from analysis_svc.domain.interviewer_texts import InterviewerTexts
from analysis_svc.domain.phrases_es import SPANISH

BY_LANGUAGE: dict[str, Phrases] = {"en": ENGLISH, "es": SPANISH}
UNDERSTOOD = frozenset(BY_LANGUAGE)
TEXTS_BY_LANGUAGE: dict[str, InterviewerTexts] = {"en": interviewer_texts.ENGLISH, "es": interviewer_texts.SPANISH}


def phrases_for(language: str) -> Phrases:
    """The phrases of ``language``; English's for one with none, or undetermined ("")."""
    return BY_LANGUAGE.get(language, ENGLISH)


def texts_for(language: str) -> InterviewerTexts:
    """What the suggestions of a call in ``language`` say; English's for one with none, or undetermined ("")."""
    return TEXTS_BY_LANGUAGE.get(language, interviewer_texts.ENGLISH)
