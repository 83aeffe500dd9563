"""Content filters of live calls: what a safety policy screens in the candidate's turns (input filters) and the
persona's (output filters), each filter a rule that flags or blocks a turn.

Every rule is a set of RE2 patterns, matched in time linear in the text whatever it says, over at most
``MAX_SCREENED_CHARACTERS`` of it. A turn that a filter matches yields a ``FilterHit``: the filter's rule name, its
category, its decision (flag or block), the topic the rule recognised (for illegal interview questions: age,
family, religion, origin, disability, marital status; otherwise the category) and the span of the text that
matched, so whoever acts on it can cite the words.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

import re2


class FilterCategory(StrEnum):
    ILLEGAL_INTERVIEW_QUESTIONS = "illegal_interview_questions"
    SLURS = "slurs"
    THREATS = "threats"
    DEFAMATION = "defamation"
    PATTERN = "pattern"


class FilterDecision(StrEnum):
    FLAG = "flag"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class ContentFilter:
    rule: str
    category: FilterCategory
    decision: FilterDecision
    pattern: str = ""  # FilterCategory.PATTERN only: the policy's own RE2 pattern


@dataclass(frozen=True, slots=True)
class FilterHit:
    """One filter that matched a turn, and the words it matched (``text[start:end]``)."""

    rule: str
    category: FilterCategory
    decision: FilterDecision
    topic: str
    start: int
    end: int


# What every blueprint's default policy screens the persona's turns with, and what a call screens them with while
# its persona's policy cannot be read: slurs and threats blocked, defamation flagged.
DEFAULT_OUTPUT_FILTERS = (
    ContentFilter("slurs", FilterCategory.SLURS, FilterDecision.BLOCK),
    ContentFilter("threats", FilterCategory.THREATS, FilterDecision.BLOCK),
    ContentFilter("defamation", FilterCategory.DEFAMATION, FilterDecision.FLAG),
)

# Utterances are bounded upstream; this bounds the filters' work whatever reaches them.
MAX_SCREENED_CHARACTERS = 4000

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is the caller's error, answered; not a server log line
_RE2_OPTIONS.max_mem = 8 << 20  # a policy's pattern may not grow an automaton past this


def compile_pattern(pattern: str) -> Any:
    """An RE2 pattern, matched in time linear in the text whatever it says; re2.error if it does not compile."""
    return re2.compile(pattern, _RE2_OPTIONS)


_policy_pattern = lru_cache(maxsize=256)(compile_pattern)


def _words(*alternatives: str) -> Any:
    return compile_pattern(r"(?i)\b(?:" + "|".join(alternatives) + r")\b")


# Questions a hiring manager may not legally ask, by topic. Asked of the person ("you", "your"); the job-related
# questions the law allows (authorisation to work, essential functions with or without accommodation, over 18,
# languages spoken) are not matched.
_ILLEGAL_QUESTIONS = {
    "age": _words(r"how old are you", r"what(?:'s| is) your age", r"your age", r"(?:what year|when) were you born",
                  r"(?:year|date) of birth", r"when did you graduate from high school"),
    "family": _words(r"pregnan\w*", r"(?:have|having|want|planning to have|plan to have) (?:any )?(?:more )?"
                                     r"(?:children|kids|a family|a baby)", r"kids at home"),
    "religion": _words(r"(?:what|which) religion", r"your (?:religion|faith)", r"religious (?:beliefs|practice)",
                       r"go to (?:church|mosque|synagogue|temple)", r"holidays do you (?:celebrate|observe)",
                       r"do you pray"),
    "origin": _words(r"where are you (?:originally |really )?from", r"(?:what is|what's) your nationality",
                     r"your nationality", r"where were you born", r"native (?:language|tongue)",
                     r"first language", r"mother tongue"),
    "disability": _words(r"disabilit(?:y|ies)", r"disabled", r"mental (?:illness|health condition)",
                         r"been treated for", r"on any medication"),
    "marital status": _words(r"are you (?:married|single|divorced|engaged|widowed)", r"marital status",
                             r"your (?:husband|wife|spouse|boyfriend|girlfriend)", r"maiden name"),
}

# Slurs against people for what they are, and sweeping contempt for a group of them.
_SLURS = {
    "slurs": _words(r"retard(?:s|ed)?", r"cripples?", r"gypsy", r"gypsies", r"spastic", r"trann(?:y|ies)",
                    r"fag(?:s|got|gots)?", r"dykes?", r"midgets?", r"you people are all"),
}

# Threats of harm to the person spoken to.
_THREATS = {
    "threats": _words(r"(?:I(?:'ll| will)|I'm going to|I am going to|gonna) (?:\w+ ){0,2}"
                      r"(?:hurt|kill|harm|beat) you",
                      r"I know where you live", r"make you regret"),
}

# An accusation of a crime or of dishonesty; defamation when it names a company or person (see _names_someone).
_ACCUSATION = _words(r"fraud\w*", r"crooks?", r"criminals?", r"steal(?:s|ing)?", r"thie(?:f|ves)",
                     r"brib(?:e|es|ed|ing)", r"launder\w*", r"embezzl\w*")
_CAPITALISED = compile_pattern(r"\b[A-Z][A-Za-z0-9&.-]+")
# Capitalised words that start sentences or stand for the speaker or listener, not for a company or a person.
_NOT_NAMES = frozenset("""I I'm I'll I'd We Our Us You Your They Their He She It Its The A An This That These Those
Everyone Everybody Nobody Somebody Honestly Frankly Look Well And But So If When Yes No Okay OK Please""".split())


def _names_someone(text: str) -> bool:
    return any(match.group(0) not in _NOT_NAMES for match in _CAPITALISED.finditer(text))


_RULES = {
    FilterCategory.ILLEGAL_INTERVIEW_QUESTIONS: _ILLEGAL_QUESTIONS,
    FilterCategory.SLURS: _SLURS,
    FilterCategory.THREATS: _THREATS,
}


def _first_match(content_filter: ContentFilter, text: str) -> tuple[str, int, int] | None:
    """(topic, start, end) of the first words of ``text`` the filter matches; None when it matches nothing."""
    if content_filter.category == FilterCategory.PATTERN:
        match = _policy_pattern(content_filter.pattern).search(text)
        return (FilterCategory.PATTERN.value, match.start(), match.end()) if match else None
    if content_filter.category == FilterCategory.DEFAMATION:
        for match in _ACCUSATION.finditer(text):
            sentence_start = max(text.rfind(stop, 0, match.start()) for stop in ".!?") + 1
            if _names_someone(text[sentence_start:match.start()]):
                return FilterCategory.DEFAMATION.value, sentence_start, match.end()
        return None
    for topic, pattern in _RULES[content_filter.category].items():
        match = pattern.search(text)
        if match:
            return topic, match.start(), match.end()
    return None


def screen(text: str, filters: Iterable[ContentFilter]) -> tuple[FilterHit, ...]:
    """Every filter of ``filters`` that matches ``text``, in the policy's order."""
    screened = text[:MAX_SCREENED_CHARACTERS]
    hits = []
    for content_filter in filters:
        found = _first_match(content_filter, screened)
        if found is not None:
            topic, start, end = found
            hits.append(FilterHit(content_filter.rule, content_filter.category, content_filter.decision, topic,
                                  start, end))
    return tuple(hits)
