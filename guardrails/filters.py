"""Content filters of live calls: what a safety policy screens in the candidate's turns (input filters) and the
persona's (output filters), each filter a rule that flags or blocks a turn.

Every rule is a set of RE2 patterns, matched in time linear in the text whatever it says, over at most
``MAX_SCREENED_CHARACTERS`` of it. A turn that a filter matches yields a ``FilterHit``: the filter's rule name, its
category, its decision (flag or block), the topic the rule recognised (for illegal interview questions: the
protected characteristic asked about, such as age, family, religion, origin, citizenship, disability, genetic
information, marital status, sex and sexual orientation, arrest record, union membership, military discharge, height
and weight, credit and finances, salary history; otherwise the category) and the span of the text that matched, so
whoever acts on it can cite the words.
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


# Questions a hiring manager may not legally ask, by topic: the lists of unlawful pre-employment inquiries (the
# EEOC's, states') name protected characteristics, not phrasings, so each topic is a lexicon of what it is about.
# A topic's word counts when it is asked of the person: in a question (a "?" or a question's first word) with
# "you" or "your" at most two words from it, as in "are you Catholic", "your wife", "sick days did you take".
# Some phrasings say it all on their own ("date of birth", "maiden name").
_QUESTION = compile_pattern(r"(?i)\?\s*$|^\W*(?:(?:so|and|ok|okay|well|also|oh|now|just|but|then|sorry|quick question)"
                            r"\W+)*(?:are|is|isn't|do|does|did|have|has|had|was|were|will|would|can|could|should|"
                            r"may|might|what|what's|when|when's|where|where's|which|who|who's|whom|whose|why|how)\b")
# What the law lets an employer ask, job-related: a question that says it is not screened for a topic at all.
_LAWFUL = _words(r"(?:authori[sz]ed|eligib\w*|permitted|allowed) to work", r"proof of eligibility",
                 r"(?:visa )?sponsorship", r"essential functions", r"with or without (?:\w+ )?accommodations?",
                 r"convicted", r"convictions?", r"(?:over|at least|older than) (?:18|eighteen|the age of)",
                 r"languages? (?:do )?you (?:speak|read|write)")
_PERSON = r"(?:you|your|yours|yourself)"
_NEAR = r"(?:\W+[\w'-]+){0,2}?\W+"
_QUESTION_TOPICS = {
    "age": ((r"born in (?:19|20)\d\d", r"birthday", r"retir\w*", r"(?:twenties|thirties|"
             r"forties|fifties|sixties|seventies)", r"(?:young|old)(?:er)? than", r"high school", r"graduat\w*"),
            (r"(?:year|date) of birth", r"(?:what year|when) were you born", r"how old (?:are|were|will) you",
             r"your age")),
    "family": ((r"pregnan\w*", r"child(?:ren)?", r"kids?", r"bab(?:y|ies)", r"child ?care", r"daycare", r"nanny",
                r"babysitt\w*", r"start(?:ing)? a family", r"family plans?", r"maternity", r"paternity",
                r"birth control", r"contracepti\w*", r"expecting (?:a baby|a child|another)", r"grandchild(?:ren)?"),
               (r"start(?:ing)? a family", r"have (?:a baby|children|kids)")),
    "religion": ((r"religio\w*", r"faith", r"church\w*", r"mosque", r"synagogue", r"temple", r"parish", r"pastor",
                  r"pray\w*", r"worship\w*", r"sabbath", r"shabbat", r"ramadan", r"easter", r"passover", r"diwali",
                  r"eid", r"yom kippur", r"lent", r"catholic", r"protestant", r"christian", r"muslim", r"jewish",
                  r"hindu", r"buddhist", r"sikh", r"atheist", r"mormon", r"god", r"spiritual", r"kosher", r"halal"),
                 (r"holidays? (?:do|will|would) you (?:celebrate|observe|keep)",)),
    "origin": ((r"born", r"nationality", r"national origin", r"ethnic\w*", r"ancestry", r"heritage", r"descent",
                r"lineage", r"accent", r"immigra\w*", r"(?:native|first|mother|home) (?:language|tongue)",
                r"(?:grow|grew|growing) up speaking", r"race", r"racial\w*", r"minority", r"skin", r"complexion",
                r"(?:which|what) country", r"originally", r"really from", r"are you from", r"parents from",
                r"family from"),
               (r"where (?:are|were|is) you(?:r \w+)? (?:originally |really )?from",)),
    "citizenship": ((r"citizen\w*", r"green card", r"naturali[sz]\w*", r"passport"), ()),
    "disability": ((r"disab\w*", r"handicap\w*", r"wheelchair", r"medical\w*", r"medications?", r"prescription\w*",
                    r"health", r"illness\w*", r"ill", r"sick\w*", r"conditions?", r"treated for", r"diagnos\w*",
                    r"therap\w*", r"rehab\w*", r"alcohol\w*", r"drugs?", r"mental\w*", r"workers'? comp\w*",
                    r"injur\w*", r"hospital\w*", r"surger\w*", r"depress\w*", r"anxiety"),
                   (r"mental (?:illness|health condition)", r"been treated for")),
    "genetic information": ((r"genetic\w*", r"dna", r"hereditary", r"family (?:medical )?history", r"cancer",
                             r"heart disease", r"diabetes"), ()),
    "marital status": ((r"married", r"marry", r"marriage", r"divorc\w*", r"widow\w*",
                        r"spouse\w*", r"husband\w*", r"wife", r"wives", r"partner", r"boyfriend", r"girlfriend",
                        r"fianc\w*", r"maiden", r"marital", r"mrs\.?", r"miss", r"ms\.?", r"live with",
                        r"household"),
                       (r"maiden name", r"marital status", r"are you (?:single|engaged)")),
    "sex and sexual orientation": ((r"gay", r"lesbian", r"bisexual", r"homosexual", r"sexual\w*", r"orientation",
                                    r"transgender", r"trans", r"gender"), (r"are you straight",)),
    "arrest record": ((r"arrest\w*", r"police", r"jail\w*", r"detained", r"charged with", r"locked up",
                       r"picked (?:\w+ )?up"), ()),
    "union membership": ((r"(?:labou?r |trade )?unions?", r"unioni[sz]\w*", r"labou?r organi[sz]ation",
                          r"collective bargaining",
                          r"organi[sz]ing"), ()),
    "military discharge": ((r"(?:(?:dis)?honou?rable |general |medical )?discharge\w*",
                            r"foreign (?:military|army|armed forces)", r"reserve duty"), ()),
    "height and weight": ((r"height", r"weight", r"how tall", r"weigh", r"how heavy"), ()),
    "credit and finances": ((r"credit (?:score|rating|history|report|check)", r"bankrupt\w*", r"debts?",
                             r"garnish\w*", r"own (?:or rent )?(?:your|a|the) (?:home|house|flat|apartment)",
                             r"rent", r"homeowner", r"mortgage", r"public assistance", r"welfare"), ()),
    "salary history": ((r"salary history", r"(?:current|previous|last|former) (?:salary|pay|compensation)"),
                       (r"(?:earning|earned|earn|making|make|paid|salary|pay) (?:\w+ ){0,3}(?:last|previous|current|"
                        r"former) (?:job|role|company|employer|position)", r"how much (?:do|did) you (?:make|earn)")),
}


def _asked_of_the_person(terms: tuple[str, ...], phrases: tuple[str, ...]) -> Any:
    term = r"(?:" + "|".join(terms) + r")"
    alternatives = [*phrases, rf"{_PERSON}{_NEAR}{term}", rf"{term}{_NEAR}{_PERSON}"]
    return compile_pattern(r"(?i)\b(?:" + "|".join(alternatives) + r")\b")


_ILLEGAL_QUESTIONS = {topic: _asked_of_the_person(*lexicon) for topic, lexicon in _QUESTION_TOPICS.items()}
# A sentence ends at ".", "!" or "?" (kept with it: a question is known by its mark).
_SENTENCE = compile_pattern(r"[^.!?]+[.!?]*")

# Slurs against people for what they are, and sweeping contempt for a group of them.
_GROUPS = (r"(?:women|woman|girls?|ladies|men|man|boys?|foreigners?|immigrants?|migrants?|old (?:people|folks|men|"
           r"women|timers)|boomers?|millennials?|gays?|lesbians?|muslims?|jews?|christians?|hindus?|blacks?|"
           r"whites?|asians?|indians?|chinese|mexicans?|arabs?|africans?|disabled people|cripples?|retards?|"
           r"your kind|you people|people like you)")
_SLURS = {
    "slurs": _words(r"retard(?:s|ed)?", r"cripples?", r"gypsy", r"gypsies", r"spastic", r"spaz\w*", r"trann(?:y|ies)",
                    r"fag(?:s|got|gots)?", r"dykes?", r"midgets?", r"mongoloids?", r"psychos?", r"schizo\w*",
                    r"mental cases?", r"nutjobs?", r"senile", r"fresh[- ]off[- ]the[- ]boat", r"wetbacks?",
                    r"towel ?heads?", r"you people are all",
                    rf"(?:typical|those|these|all|bunch of|some) {_GROUPS}",
                    rf"{_GROUPS} (?:like you|always|never|can't|cannot|shouldn't|are all|are too|don't belong)",
                    r"a real man", r"little girl"),
}

# Threats of harm to the person spoken to: said outright, on a condition, or veiled.
_HARM = (r"(?:hurt|kill|harm|beat|smash|break|destroy|end|bury|strangle|stab|shoot|punch|slap|ruin|come for|"
         r"come after|hunt down|make an example of)")
_THREATS = {
    "threats": _words(rf"(?:I(?:'ll| will|'m going to| am going to|'m gonna| swear I(?:'ll| will))|gonna|someone will|"
                      rf"we(?:'ll| will)) (?:\w+ ){{0,2}}{_HARM} you\b", r"ruin your (?:career|life|reputation|name)",
                      r"(?:break|smash|bash|kick|cave) (?:your|in your) (?:legs?|face|head|teeth|knees?|skull|nose)",
                      r"you(?:'re| are)? (?:going to|gonna|will|'ll) (?:get|be|end up) "
                      r"(?:hurt|killed|beaten|harmed|dead)",
                      r"I know where you (?:live|work|park|sleep|go)", r"make you (?:regret|pay|suffer|sorry)",
                      r"wish you (?:hadn't|had not|were dead|never)", r"watch your back",
                      r"(?:shame|pity) if (?:\w+ ){0,4}(?:happened|happen|caught fire|burn\w*|broke|got hurt)",
                      r"something (?:bad|terrible|nasty|awful) (?:might|could|will|is going to|may) happen",
                      r"(?:won't|will not|never) (?:make it|get|go) home", r"sleep with one eye open",
                      r"(?:dead|a dead) (?:man|woman)", r"end you"),
}

# An accusation of a crime or of dishonesty; defamation when it names a company or person (see _names_someone).
_ACCUSATION = _words(r"fraud\w*", r"crooks?", r"crooked", r"criminals?", r"steal(?:s|ing)?", r"stole(?:n)?",
                     r"thie(?:f|ves)", r"brib(?:e|es|ed|ing|ery)", r"launder\w*", r"embezzl\w*", r"lied",
                     r"liars?", r"lying", r"lies to", r"cheat\w*", r"scam\w*", r"con (?:man|men|artists?|job)",
                     r"swindl\w*", r"extort\w*",
                     r"blackmail\w*", r"corrupt\w*", r"kickbacks?", r"rig(?:s|ged|ging)", r"falsif\w*",
                     r"fak(?:e|es|ed|ing) (?:its|their|the|his|her) (?:\w+ )?(?:numbers|revenue|results|books|data)",
                     r"cook(?:s|ed|ing)? (?:its|their|the|his|her) books", r"pa(?:y|ys|id) off", r"cover(?:s|ed)? up",
                     r"sells? (?:\w+ ){0,2}(?:data|recordings|information)", r"spy(?:ing)? on", r"spies on",
                     r"rip(?:s|ped)? off", r"defraud\w*", r"illegal(?:ly)?", r"money laundering", r"ponzi")
_CAPITALISED = compile_pattern(r"\b[A-Z][A-Za-z0-9&.-]+")
# Capitalised words that start sentences or stand for the speaker or listener, not for a company or a person.
_NOT_NAMES = frozenset("""I I'm I'll I'd We Our Us You Your They Their He She It Its The A An This That These Those
Everyone Everybody Nobody Somebody Honestly Frankly Look Well And But So If When Yes No Okay OK Please""".split())


def _names_someone(text: str) -> bool:
    return any(match.group(0) not in _NOT_NAMES for match in _CAPITALISED.finditer(text))


_RULES = {
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
    if content_filter.category == FilterCategory.ILLEGAL_INTERVIEW_QUESTIONS:
        return _first_question_asked(text)
    for topic, pattern in _RULES[content_filter.category].items():
        match = pattern.search(text)
        if match:
            return topic, match.start(), match.end()
    return None


def _first_question_asked(text: str) -> tuple[str, int, int] | None:
    """(topic, start, end) of the first question of ``text`` that asks the person about a protected topic."""
    for sentence in _SENTENCE.finditer(text):
        said = sentence.group(0)
        if not _QUESTION.search(said) or _LAWFUL.search(said):
            continue
        for topic, pattern in _ILLEGAL_QUESTIONS.items():
            match = pattern.search(said)
            if match:
                return topic, sentence.start() + match.start(), sentence.start() + match.end()
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
