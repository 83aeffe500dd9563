"""The language a call is held in, from what was said (``lingua``, its models shipped in the package, no I/O).

The candidates are the languages calls are most likely held in; a call in another one is taken for the nearest of
them, which is never English unless it is close to it, so the reading is still marked as not understood. The models
are loaded once, when this module is imported, so no reading pays for it."""

from __future__ import annotations

from collections.abc import Iterable

from lingua import Language, LanguageDetectorBuilder

from calls.turns import Turn

CANDIDATES = (Language.ENGLISH, Language.SPANISH, Language.FRENCH, Language.GERMAN, Language.PORTUGUESE,
              Language.ITALIAN, Language.DUTCH)
# Below this many letters nothing is decided: a greeting says too little.
MIN_LETTERS = 20
UNDETERMINED = ""
# A language detected with this confidence is the call's: a call is held in one language, so later readings of it
# need not detect it again.
SETTLED_CONFIDENCE = 0.95

# The candidates' English names by ISO 639-1 code, to tell a model which language to write in.
NAMES = {language.iso_code_639_1.name.lower(): language.name.capitalize() for language in CANDIDATES}

_DETECTOR = LanguageDetectorBuilder.from_languages(*CANDIDATES).with_preloaded_language_models().build()


def language_of(turns: Iterable[Turn]) -> str:
    """The ISO 639-1 code of the language of the turns (both sides), or UNDETERMINED when they say too little."""
    return detected_language(turns)[0]


def detected_language(turns: Iterable[Turn]) -> tuple[str, bool]:
    """``language_of`` the turns, and whether it is settled: detected with at least SETTLED_CONFIDENCE."""
    text = " ".join(turn.text for turn in turns)
    if sum(character.isalpha() for character in text) < MIN_LETTERS:
        return UNDETERMINED, False
    detected = _DETECTOR.detect_language_of(text)
    if detected is None:
        return UNDETERMINED, False
    return (detected.iso_code_639_1.name.lower(),
            _DETECTOR.compute_language_confidence(text, detected) >= SETTLED_CONFIDENCE)
