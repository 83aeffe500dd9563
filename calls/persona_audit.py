"""Post-call persona audit: how well the persona played its side of the call.

Only the persona's turns (Role.ASSISTANT) are judged, against the target words per turn for its difficulty, its
traits, its objection patterns and the scenario's facts, and against what the candidate asked: brevity,
authenticity, consistency, enthusiasm leak and pacing, each scored 1 to 10 where 10 is best, with the quotes that
cost points and concrete prompt-level fixes. What a coach of role-play personas flags is flagged here: facts given
before the candidate earned them, no resistance, answers to another question, repetition, contradicting the
scenario, character breaks in any words, hostility and minimal answers. Their precision and recall on a labelled
set kept apart are in docs/persona_audit.md. Pure text rules and arithmetic,
no I/O: the same transcript and profile always give the same audit.

Shared by the analysis service, which audits real calls, and the learning service, which audits simulated
calls with the same rules.
Maps onto sparring.analysis.v1: PersonaAudit, AuditScores, WordRange, FlaggedQuote and FlagReason."""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

import snowballstemmer

from calls import scenario_facts
from calls.fitted_flaws import FlawClassifier, load_classifiers
from calls.scenario_facts import ScenarioFacts
from calls.turns import Role, Turn, normalise, words

MIN_DIFFICULTY, MAX_DIFFICULTY = 1, 5
MAX_QUOTE_CHARS = 500
MAX_FLAGGED_QUOTES = 20
MAX_RECOMMENDATIONS = 10

# Harder personas give less away: the target words per persona turn by difficulty.
_TARGETS: dict[int, tuple[int, int]] = {1: (15, 35), 2: (12, 28), 3: (10, 22), 4: (8, 16), 5: (5, 12)}
# A turn this many times the target maximum is flagged as far too long.
TOO_LONG_FACTOR = 1.5
# Consecutive persona messages (speech-to-text splits one answer) longer than this many times the maximum.
MONOLOGUE_FACTOR = 2.0
# Coefficient of variation of turn lengths above which the rhythm swings between terse and long.
STEADY_CV = 0.8
# Share of persona turns that are questions above which the persona deflects rather than answers.
DEFLECTION_SHARE = 0.6
LOW_AGREEABLENESS = 0.4
HIGH_AGREEABLENESS = 0.7


class FlagReason(StrEnum):
    """sparring.analysis.v1.FlagReason, without the prefix."""

    TOO_LONG = "too_long"  # far more words than the target range
    ENTHUSIASM_LEAK = "enthusiasm_leak"  # warmth or eagerness the persona should not show
    OUT_OF_CHARACTER = "out_of_character"  # breaks character: sounds like an assistant, mentions its setup
    INCONSISTENT = "inconsistent"  # a tone its traits rule out: effusive when disagreeable, harsh when agreeable
    PACING = "pacing"  # monologues, or gives in too early for its difficulty and scepticism
    OTHER = "other"
    EARLY_DISCLOSURE = "early_disclosure"  # budget, signer or deadline given before the candidate earned it
    NO_RESISTANCE = "no_resistance"  # accepts claims with none of its objections, at a difficulty that calls for them
    UNRESPONSIVE = "unresponsive"  # does not answer what the candidate asked
    REPETITION = "repetition"  # says again what it already said
    CONTRADICTS_SCENARIO = "contradicts_scenario"  # a budget, deadline, size or industry the scenario rules out
    HOSTILITY = "hostility"  # insults the candidate, whatever its traits
    MINIMAL_ANSWER = "minimal_answer"  # a word or three to an open question


class Reading(StrEnum):
    """What the detectors read in a turn beyond their first rules. Each can be left out, so that the evaluation on
    the labelled set can ask whether calls other than the one it was written for support it."""

    DECLINING = "declining"  # a refusal or not knowing answers whatever was asked
    ANSWER_SAID_AGAIN = "answer_said_again"  # an answer said again answers the question it was given to, not another
    AMOUNT = "amount"  # "how much" and "how many" ask for an amount
    TIME_TO_COME = "time_to_come"  # when something happened does not say when it will
    POINTING_BACK = "pointing_back"  # a pronoun in an answer's first clause points back at what was asked
    REASON = "reason"  # a reason answers a "why"
    COUNTED = "counted"  # a short answer that counts what it names is not minimal
    ACKNOWLEDGEMENT = "acknowledgement"  # an apology or an "I am listening" is no claim to accept
    OWN_QUESTION = "own_question"  # a question of the persona's own is not an objection
    OBJECTED_BEFORE = "objected_before"  # only an objection raised before an acceptance excuses it, not a later one
    ECHO = "echo"  # the candidate's words said back are no objection, even when an objection pattern has them
    ACCEPTING_CLAUSE = "accepting_clause"  # an acceptance in any clause ("A third, that sounds right to me")
    CONTEMPT = "contempt"  # judging the candidate's worth, in no rude word ("you sound like an amateur"), or their
    # ignorance said as plain fact ("you clearly haven't", "if you'd bothered to read")
    STEPPING_OUT = "stepping_out"  # a break in other words: an assistant's voice, offering material, coaching
    SMALL_TALK = "small_talk"  # an anecdote or small talk, question or not, answers nothing that was asked
    OBJECTING_SENTENCE = "objecting_sentence"  # only the sentence that objects keeps its facts, not the whole turn
    YES_OR_NO = "yes_or_no"  # a yes or a no answers a question put for one; "we don't" answers what we do
    QUESTION_SAID_AGAIN = "question_said_again"  # a question of the persona's said again to another question
    SPAN = "span"  # a span of time to come ("a year", "next year") far from the scenario's weeks contradicts it
    WHAT_IT_COUNTS = "what_it_counts"  # an amount is the budget only when it counts money the persona could pay
    UNSCALED = "unscaled"  # a bare number given for money is in thousands ("one eighty to two fifty a year")
    SIGNER_ANSWERED = "signer_answered"  # a person named in answer to "who signs?" ("I do.", "The CFO, Margaret.")
    DEADLINE_WORDS = "deadline_words"  # a deadline in other words ("out of time in six weeks"), or a date or a span
    # to come given in answer to a question about timing
    PRAISE = "praise"  # an acceptance phrased as praise or agreement in a clause of its own ("Ten times, impressive")
    ASSISTANT_VOICE = "assistant_voice"  # a break by sentence shape: "as your ... assistant", the call named a
    # simulation, the persona spoken of by whoever voices it
    WORTH_VERDICT = "worth_verdict"  # a second-person verdict on the candidate's worth ("are you thick?", "a waste of
    # oxygen", "the most clueless rep", "you wouldn't last a day")
    NO_DEADLINE = "no_deadline"  # "no rush", "no deadline", "whenever suits you" against the scenario's deadline
    APPROVAL = "approval"  # a good verdict on the claim in any shape ("would be remarkable", "exactly what we need",
    # "then we should raise it", "you're clearly the strongest")
    SETTLED_CONCERN = "settled_concern"  # a worry named in a turn that accepts, with no "but", is settled, not raised
    WORRY_DISMISSED = "worry_dismissed"  # a worry the turn names as none or as dealt with ("no risk", "that risk is
    # covered") is no doubt
    DOUBT_TO_A_CLAIM = "doubt_to_a_claim"  # a doubt resists only a claim or a proposal: one told in answer to a
    # question is the persona's own story ("I'm not sure I believe it"); its objection patterns count anywhere
    DIGRESSION = "digression"  # a turn marked as an aside ("by the way", "did I mention") or a story of the persona's
    # own past that shares no word with the question answers nothing
    CHARACTERISATION = "characterisation"  # contempt by sentence shape: "you clueless amateur", "only someone with a
    # bootcamp brain would", "you ... are a salesman who couldn't", "are you always this dense?"
    META_VOICE = "meta_voice"  # the voice behind the persona: "out of character", "I'm the AI voicing", "these mocks"
    TIMING_ASKED = "timing_asked"  # "how long", "how soon", "how quickly" ask about timing: the answer is earned and
    # is read against the scenario's deadline
    ROLE_SIGNS = "role_signs"  # any role or name that signs, approves or decides ("the CISO signs this")
    DUE_IN = "due_in"  # something decided, signed, closed or live within a span to come ("closes in six weeks")
    SHORT_SAID_AGAIN = "short_said_again"  # a short line said again word for word is a repeat ("Political."), and
    # answers the question it was first given to, not another
    FACT_IN_OBJECTION = "fact_in_objection"  # an objection keeps back only the facts its pattern says; a figure or a
    # date it adds is given away ("I'm not raising the band above one ninety-five")
    ELLIPTICAL = "elliptical"  # an opening sentence with no subject and no verb ("Referral codes.", "Badly, mostly.")
    # answers the question it follows: it has no sense of its own
    NAMED = "named"  # a name alone, or a role, answers "who" ("Viktor, in the end.", "The VP of engineering.")
    NARRATION = "narration"  # the scene told from outside: a stage direction in brackets, the persona's gestures told
    # in the third person, the scene moving on
    EVALUATOR_VOICE = "evaluator_voice"  # the candidate's performance judged for the exercise (marks, a rubric, what
    # to do next time), the persona's notes or script, an offer to produce material
    BREAK_FOR_ANSWER = "break_for_answer"  # a turn out of character in every sentence answers nothing that was asked
    COMPARISON = "comparison"  # contempt by comparison: the candidate likened to a child, an animal or a machine, put
    # below someone ("interns hand in better homework than you"), "as slow as you", "engineers like you", "someone
    # who can read", "even you", "unlike you", a pet name ("dear"), crayons, "more than I expected from"
    ECHOED = "echoed"  # a figure the candidate has just said, said back ("Three thousand. Okay."), gives nothing
    PAST_SUM = "past_sum"  # a sum in a sentence about the past ("We offered a hundred and ninety and she walked")
    # discloses what happened, not what the persona could pay
    AGREED_AFTER_ECHO = "agreed_after_echo"  # agreement opening a later clause, after the claim said back ("Eighty.
    # Fine.", "Any size, fine."), or doing at once what was proposed ("Then pay it.", "Add both.", "Please do.")
    DATE_AGREED = "date_agreed"  # a date for a go-live, a decision or a renewal the candidate proposes, agreed to,
    # is read against the scenario's deadline ("November sounds sensible" to "we'd move go-live to November")
    CONCLUDED = "concluded"  # a claim taken as read: a conclusion drawn from it ("Then injection is handled.",
    # "Three during the close, then.") or the claim said back as the turn opens and taken further ("Half. That
    # changes the whole plan."), with nothing against it and nothing asked
    OBJECTION_ANSWERED = "objection_answered"  # a candidate who has spoken to one of the persona's objections has
    # taken up its problem: a fact asked for after that is earned, even from the guarded difficulty
    SAME_POINT = "same_point"  # an earlier turn's point made again in other words: most of the shorter turn's content
    # words are the earlier one's ("a month later nobody opened it" after "after the first month nobody logged in")
    RATE = "rate"  # what a rate is taken over is no sum ("under one per ten thousand")
    SCENARIO_DEADLINE = "scenario_deadline"  # the scenario's own span or date said gives its deadline away, in any
    # words ("I want it live inside eight weeks" against "a pilot within 8 weeks")
    OURS = "ours"  # an industry in what the persona calls its own ("our cosmetics line") is the company's
    PERIOD = "period"  # a sum for another period than the scenario's budget is brought to its period ("fifteen
    # thousand a week" against "$15k per month")
    TOLD_IN_THE_PAST = "told_in_the_past"  # a date in a sentence about the past ("It renewed in March") is when
    # something happened, not a deadline against the scenario's
    EVERYONE = "everyone"  # a count of everyone ("all nine hundred of our staff", "around two hundred, which is the
    # whole company") is the company's size, whatever the turn is about
    SCENARIO_EVENT = "scenario_event"  # a date for an event the scenario's timeline names ("our fiscal year ends in
    # December" against "before fiscal year-end on 30 September") is read against the scenario's deadline


@dataclass(frozen=True, slots=True)
class WordRange:
    min_words: int
    max_words: int

    def __str__(self) -> str:
        return f"{self.min_words}-{self.max_words}"


@dataclass(frozen=True, slots=True)
class PersonaProfile:
    archetype: str
    difficulty: int  # 1 to 5
    personality_traits: tuple[str, ...] = ()  # free words, e.g. ("sceptical", "blunt")
    traits: Mapping[str, float] = field(default_factory=dict)  # e.g. OCEAN, each 0.0 to 1.0
    objection_patterns: tuple[str, ...] = ()  # e.g. ("The price is hard to justify",)
    scenario: ScenarioFacts = field(default_factory=ScenarioFacts)  # the call's scenario, empty when it has none

    def __post_init__(self) -> None:
        target_words_per_turn(self.difficulty)  # raises ValueError outside 1-5

    def trait(self, name: str) -> float | None:
        wanted = name.casefold()
        return next((float(value) for key, value in self.traits.items() if key.casefold() == wanted), None)

    def _described_as(self, stems: Sequence[str]) -> bool:
        return any(stem in trait.casefold() for trait in self.personality_traits for stem in stems)

    @property
    def low_agreeableness(self) -> bool:
        agreeableness = self.trait("agreeableness")
        if agreeableness is not None:
            return agreeableness < LOW_AGREEABLENESS
        return self._described_as(_COOL_TRAITS)

    @property
    def high_agreeableness(self) -> bool:
        agreeableness = self.trait("agreeableness")
        if agreeableness is not None:
            return agreeableness >= HIGH_AGREEABLENESS
        return self._described_as(_WARM_TRAITS)

    @property
    def sceptical(self) -> bool:
        agreeableness = self.trait("agreeableness")
        return self._described_as(_SCEPTICAL_TRAITS) or (agreeableness is not None and agreeableness < 0.3)


@dataclass(frozen=True, slots=True)
class AuditScores:
    brevity: int
    authenticity: int
    consistency: int
    enthusiasm_leak: int  # 10 means no leaked enthusiasm
    pacing: int

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (self.brevity, self.authenticity, self.consistency, self.enthusiasm_leak, self.pacing)


@dataclass(frozen=True, slots=True)
class FlaggedQuote:
    sequence: int  # the message it came from
    text: str  # the persona's words, at most 500 characters
    reason: FlagReason
    explanation: str  # why, in a sentence, e.g. "31 words; target 8-12"
    candidate_text: str = ""  # what the candidate said just before, at most 500 characters ("" when none)


@dataclass(frozen=True, slots=True)
class PersonaAudit:
    archetype: str
    difficulty: int
    scores: AuditScores
    overall_score: float  # mean of the five scores
    avg_words_per_turn: float
    target_words_per_turn: WordRange
    persona_turn_count: int
    flagged_quotes: tuple[FlaggedQuote, ...]  # at most 20, worst first
    recommendations: tuple[str, ...]  # at most 10


def target_words_per_turn(difficulty: int) -> WordRange:
    if difficulty not in _TARGETS:
        raise ValueError(f"difficulty must be between {MIN_DIFFICULTY} and {MAX_DIFFICULTY} (got {difficulty})")
    return WordRange(*_TARGETS[difficulty])


def _phrases(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


# (how a recommendation names it, what matches it)
_ENTHUSIASM: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("I appreciate that", _phrases(r"i (?:really |truly |do )?appreciate (?:that|this|it|you)")),
    ("great question", _phrases(r"(?:great|good|excellent|fantastic|wonderful) question")),
    ("that's amazing", _phrases(r"that(?:'s| is| sounds) (?:so )?(?:amazing|awesome|fantastic|wonderful|incredible)")),
    ("I love that", _phrases(r"i (?:just |really |absolutely )?love (?:that|this|it|the idea)", r"love it")),
    ("absolutely!", re.compile(r"(?<!\w)absolutely\s*!", re.IGNORECASE)),
    ("sounds great", _phrases(r"(?:that )?sounds (?:really )?(?:great|awesome|perfect|exciting)")),
    ("perfect!", re.compile(r"(?<!\w)perfect\s*!", re.IGNORECASE)),
    ("great point", _phrases(r"(?:great|excellent|fantastic) point")),
    ("I'm so excited", _phrases(r"i'm (?:so |really |very )?(?:excited|thrilled)", r"how exciting")),
    ("wow", _phrases(r"wow")),
)
# More than this many exclamation marks in one turn is eager whatever the words.
EXCLAMATION_LIMIT = 1

_BREAKS_CHARACTER = _phrases(
    r"as an ai", r"i'm (?:just |only )?an? (?:ai|assistant|bot|chatbot|language model)",
    r"i am (?:just |only )?an? (?:ai|assistant|bot|chatbot|language model)", r"(?:large )?language model",
    r"my (?:instructions|prompt|system prompt|programming|guidelines|persona|character)", r"system prompt",
    r"difficulty (?:level|setting|of \d)", r"(?:level|difficulty) [1-5] persona",
    r"i(?:'m| am|'ve been| have been) (?:programmed|instructed|told) to", r"role[- ]?play\w*",
    r"this (?:simulation|exercise|practice (?:call|session))", r"(?:how|what) can i (?:help|assist) you",
    r"i'd be (?:happy|glad) to (?:help|assist)", r"is there anything else i can",
    # The same breaks in other words: the practice itself, the assistant's service phrases, coaching the candidate.
    r"(?:the|this) (?:exercise|scenario|simulation|practice)(?: is set up| says)?", r"my (?:character|role)",
    r"(?:step(?:ping)?|break(?:ing)?|out) (?:out of )?(?:character|the role)", r"in character",
    r"(?:help|helping) you (?:practi[sc]e|prepare|rehearse|train|learn)", r"(?:i'm|i am) here to help",
    r"(?:happy|glad) to (?:help|assist|walk you through|explain)", r"let me know if (?:there is|there's|you)",
    r"feel free to (?:ask|reach out)", r"to summari[sz]e (?:our|the|this) (?:conversation|call|discussion)",
    r"here are (?:some|a few) (?:general |quick )?(?:tips|suggestions|ideas|steps)",
    r"you(?:'re| are) doing (?:really |very |so )?(?:well|great|good) (?:at|with|on|in) \w+",
    r"you did (?:a )?(?:solid|good|great) job",
    r"(?:good|great|nice) (?:job|work)(?! on)", r"keep it up", r"(?:great|good|nice|excellent) follow-up",
    r"(?:a )?good next step (?:would be|is) (?:asking|to ask)", r"you (?:could|should|might want to) (?:probe|ask me)",
)  # fmt: skip
# Breaks in other words: speaking as an assistant or of the persona in the third person, offering to make material
# or to play a part, and coaching (a tip, feedback, advice for the next calls, practice).
_STEPS_OUT = _phrases(
    r"as an? (?:\w+ )?(?:ai|assistant|model|simulator|chatbot|coach)",
    r"(?:i am|i'm) (?:only |just )?(?:playing|pretending)",
    r"in a real (?:call|conversation|meeting|interview|situation)",
    r"i (?:can|could) (?:also )?(?:generate|pretend|simulate|play the part|play a|act as)",
    r"(?:quick|one|a|my) tip", r"(?:some |a bit of |quick )?feedback for you", r"(?:your next|future) calls",
    r"keep doing (?:that|this|it)", r"you (?:get |have |need |can |to )?(?:more |some )?practi[sc]e\w*",
)  # fmt: skip
# Breaks by the shape of the sentence: speaking as someone's assistant, naming the call a simulation or saying how a
# real one would go, speaking of the persona as a part someone voices, and cheering the candidate on.
_ASSISTANT_VOICE = _phrases(
    r"as (?:your|the|this|my|their) (?:\w+ )?(?:ai|assistant|model|simulator|chatbot|coach|bot)",
    r"(?:this|it)(?:'s| is| was) (?:(?:just|only|all) )?(?:an? )?(?:simulat\w+|mock|pretend|fictional|made-up)(?!-)",
    r"(?:this|it)(?:'s| is| was) (?:(?:just|only|all) )?(?:an? )?(?:training|practice|role-?play) "
    r"(?:scenario|exercise|session|call|round)",
    # How a real one would go, with or without naming it: "in a real review", "if this were a real discovery call".
    r"in a real (?:\w+ )?(?:one|call|review|negotiation|panel|interview|meeting|pitch)",
    r"if (?:this|it) (?:were|was|had been) (?:a |an )?real\b", r"keep (?:that|this) up",
    r"(?:whoever|someone|the person|the one)(?: who)?(?:'s| is) (?:voicing|playing|acting as)",
    r"(?:whoever|someone who|the person who) (?:wrote|writes|scripted|designed) (?:this|the|my) "
    r"(?:part|role|character|scenario|persona)",
    r"(?:questions|lines|things) you (?:could|should|might|can) (?:ask|say|try|use)",
)  # fmt: skip
# The voice behind the persona: stepping out of character or back from the call, the model or the part it voices,
# the practice as mocks or a partner, offering the candidate material, changing how hard the call is.
_META_VOICE = _phrases(
    r"out of character", r"(?:i'm|i am) (?:just |only )?(?:the|an?|your) (?:\w+ )?(?:ai|assistant|bot|chatbot|model)",
    r"voic(?:ing|e of|e behind) \w+", r"(?:these|those|our) mocks",
    r"mock (?:\w+ )?(?:interview|call|review|pitch)(?:s|ers?)?",
    r"step(?:ping)? (?:back|out|away) from (?:the|this|our) (?:\w+ )?(?:interview|call|conversation|scenario|review|"
    r"meeting|pitch|role)", r"(?:your|my|a) practi[sc]e (?:partner|run|session|round)",
    r"for your (?:\w+ )?practi[sc]e",
    r"i (?:can|could) (?:give|send|write|list|share|draft) you (?:\w+ ){0,3}(?:questions|tips|examples|lines|scripts?|"
    r"pointers)", r"(?:lower|raise|change|adjust) the difficulty",
)  # fmt: skip
# Insults and contempt for the candidate: beyond any persona's traits, however blunt.
_HOSTILE = _phrases(
    r"idiot\w*", r"moron\w*", r"clown", r"stupid\w*", r"dumb(?:est)?", r"pathetic", r"useless", r"incompetent",
    r"shut up", r"people like you", r"spare me", r"(?:you|what a) (?:fool|joke)", r"genius", r"(?:you|a) loser",
    r"f+u+c+k\w*", r"bullshit", r"crap", r"get lost", r"piss off", r"hate (?:you|sales ?people|salespeople)",
)  # fmt: skip
# Contempt for the candidate's worth in no rude word: a second-person verdict that makes them a beginner or the
# worst, a comparison with beginners, a sarcastic "you would be lucky", a dismissal ("Sit down.").
_BEGINNER = r"(?:amateur|beginner|rookie|novice|intern|junior|child|kid|student)s?"
_CONTEMPT = _phrases(
    rf"you(?:'re| are| sound| look| seem| talk| act)(?: like)? (?:a|an|the|some) (?:\w+ )?{_BEGINNER}",
    r"you(?:'re| are) (?:\w+ )?(?:the )?worst", r"(?:the )?worst of (?:the|a) lot", r"you(?:'d| would) be lucky",
    rf"(?:smarter|better|sharper) \w+ from (?:the |an? |my |our )?{_BEGINNER}",
    rf"(?:an?|some) {_BEGINNER} (?:pitches|would|with)",
    r"(?:you(?: \w+)?|can you even) (?:can't|cannot|can not) even", r"you(?:'re| are) not going to make it",
    r"you(?: have|'ve) been useless", r"^sit down\W*$",
    # The candidate's ignorance or idleness said as plain fact: "you clearly haven't spent a day in a plant", "never
    # stood on a shop floor in your life", "which you'd know if you'd bothered to read", "do try to keep up", "so
    # naive", "wet behind the ears".
    r"you(?:'ve| have)? (?:clearly|obviously|plainly) (?:haven't|have not|have never|never|don't|do not|didn't|"
    r"did not|have no|know nothing)", r"(?:never|haven't|have not|not once)\b[^.?!]*\bin your (?:whole |entire )?life",
    r"if you(?:'d| had) (?:even |ever )?(?:bothered|cared)", r"try (?:and|to) keep up",
    r"(?:so|how|rather|very|pretty|that's|you're|you are) naive", r"wet behind the ears",
)  # fmt: skip
# Contempt by the shape of the sentence: the candidate called names at the end of a sentence ("..., you clueless
# amateur."), what only a fool would say, and a second-person verdict that makes them someone who cannot.
_CHARACTERISATION = _phrases(
    r"(?<=,)\s*you (?!(?:know|see|too|all|guys|two|both|there|here|first|said|mean|bet|agree|lot|folks|people|will|"
    r"can|do|did|are|were|have|had|would|could|should|might|must|yourself|got|get|think|guess|understand|ask|"
    r"reckon|realise|realize|remember|need|want|like|lucky|\w+ed)\b)\w+ (?!(?:me|us|them|it|him|her|that|this|so|"
    r"too|now|again|here|there)\b)\w+\W*$",
    r"only (?:someone|somebody|an? \w+|people) (?:with|who)\b[^.]*\bwould (?:say|think|believe|suggest|ask|propose)",
    r"you(?:,? \w+,?)? (?:are|'re) (?:just )?(?:a|an) (?:\w+ ){0,5}who (?:couldn't|can't|cannot|could not|doesn't|"
    r"does not|wouldn't|would not)",
)  # fmt: skip
# A verdict on the candidate's worth, by the shape of the sentence: a question of their wits, the candidate (said in
# the same sentence) as a waste of something (a process may be "a waste of good people's time": no verdict on them), a
# second-person verdict in a word ending in -less ("the most clueless rep"), and not lasting a day.
_WORTH_VERDICT = _phrases(
    r"are you (?:\w+ ){0,2}(?:thick|dense|daft|dim|slow|simple|deaf|dumb|stupid|blind|mad)",
    r"(?:\byou\b(?! know| see| mean)[^.?!]{0,40}?|\bwhat )(?:a|an) (?:complete |total |utter )?waste of "
    r"(?!(?:my |our |your |the |everyone's )?(?:time|money|effort|budget|breath|a meeting|an hour|a day)\b)\w+",
    r"you(?: \w+)?(?:'re| are)(?: \w+)? (?:the most |so |such an? |completely |totally |utterly )?"
    r"(?!(?:regard|nonethe|neverthe|un)less)(?:\w+less|tiresome|irksome|loathsome)\b",
    r"(?:wouldn't|would not|couldn't|could not|won't|will not) last (?:a|one|an) (?:day|week|hour|minute|month)",
)  # fmt: skip
# The scene told from outside: a stage direction in brackets or between asterisks, someone's gestures told in the
# third person ("Fatima nods slowly"), the scene moving on.
_NARRATION = re.compile(
    r"[(\[][^()\[\]]*\w+ \w+ \w+[^()\[\]]*[)\]]|\*[^*]*\w+ \w+ \w+[^*]*\*"
    r"|\bthe scene (?:\w+ )?(?:moves|cuts|shifts|ends|changes|fades|jumps)\b"
    r"|(?:^|[.!?]\s+)(?-i:[A-Z][a-z]+) (?:\w+ly )?(?:nods|leans|smiles|sighs|pauses|frowns|laughs|shrugs|glances|"
    r"grins|winces|chuckles|scribbles|writes something|looks (?:up|down|away|at))\b", re.IGNORECASE)
# The candidate's performance judged for the exercise, the persona's notes or script, an offer to produce material.
_EVALUATOR_VOICE = _phrases(
    r"if i (?:were|was) (?:marking|scoring|grading|rating)", r"(?:top|full|high) marks", r"rubric",
    r"scor(?:ing|e) (?:sheet|card)", r"the scorers", r"tick(?:ed|s)? every box", r"recommend (?:a )?hire",
    r"(?:mark|pass) (?:the|this) round", r"next time you (?:practi[sc]e|rehearse|run this|try this|do this)",
    r"(?:on|in|for) your next (?:\w+ )?(?:calls?|rounds?)",
    r"a (?:stronger|better) (?:move|answer|opening|approach) (?:is|would be)", r"try it that way",
    r"you handled (?:that|this) (?:\w+ )?(?:really |very )?(?:well|nicely)",
    r"most people forget",
    r"(?:good|great|strong) (?:next )?question for you", r"you could try on me",
    r"my (?:notes|guidance|brief|script|sheet|card)\b(?: for this part)?(?: says?| tells?)?",
    r"(?:part|bit|rest) of the script", r"drop (?:the|my) (?:\w+ )?act", r"(?:running|in|for) (?:this|these) sessions?",
    r"as (?:your|the) (?:trainer|evaluator|examiner|coach|assessor)", r"react as \w+ would",
    r"score (?:that|this|it|you)\b[^.?!]*\bout of (?:five|ten|\d+)",
    r"(?:persona|character|evaluator|trainer|coach|narrator|facilitator|scenario|director|stage)(?:'s)? note",
    r"note for the candidate", r"(?:is|am|was) written to be", r"(?:is|am|was|'s|'m) scripted to",
    r"at this difficulty", r"(?:keep|stop|continue) playing (?:this|the|my) (?:role|part|character)",
    r"step(?:ping)? (?:out(?:side)?|away)(?: of| from)? (?:the scene|\w+ for a (?:moment|second|minute))",
    # Speaking from outside the call, offering to go on as the persona, declining to play it out: "a note from
    # outside the call", "shall I carry on as Priya?", "I'm not able to act out a full outage".
    r"(?:from|step(?:ping)?|going) outside (?:the|this) (?:call|scene|scenario|role-?play|conversation|interview|"
    r"meeting|exercise)", r"(?:shall|should) i (?:carry on|continue|keep going|stay|go on) as",
    r"(?:not able|unable|can't|cannot|won't) (?:to )?(?:act out|role-?play|play out)",
    r"(?:if you(?:'d)? like|would it help if),? i (?:can|could|drafted|wrote|made|listed|prepared)",
    r"(?:shall|should) i put (?:it|this|that) in a table", r"(?:this|that) (?:kind|sort) of session",
    r"(?:a |great |good )?question to ask an? (?:interviewer|buyer|hiring manager|prospect)",
    r"would you like me to (?:generate|create|draft|write|prepare|format|put together)",
    r"(?:shall|should) i (?:list|draft|write|put together|prepare|generate|outline|sketch)",
    r"i can format (?:it|this)", r"here are (?:\w+ )?(?:tips|suggestions|pointers)",
    r"here(?:'s| is) (?:a|an|your) (?:\w+ )?(?:draft|template|sample|outline|script)",
)  # fmt: skip
# Contempt by comparison, read sentence by sentence: a simile about the candidate or what they do, someone doing better
# than them, "as slow as you", a kind of people "like you", a metaphor for them, and the capable person they are not.
_COMPARISON = _phrases(
    r"(?:you|your)\b[^.?!]*\blike (?:a|an|watching|explaining|talking to|listening to|teaching)",
    r"like (?:a|an|watching|explaining|talking to|teaching) [^.?!]*\b(?:you|your)",
    # A simile whose subject is the candidate: "you negotiate like someone apologising", "you plan projects the way
    # pigeons play chess", "it's like interviewing a laminated cheat sheet".
    r"(?:you|your)\b[^.?!]*\b(?:like (?:someone|somebody)|the way (?:a|an|\w+s) \w+)",
    r"(?:it's|it is|this is) like (?:talking to|interviewing|arguing with|negotiating with|reading) (?:a|an)",
    r"(?:watching|listening to|talking to) you\b[^.?!]* like",
    r"(?:better|sharper|smarter|quicker|faster)\b[^.?!]*\bthan (?:you|your)",
    r"as (?!(?:soon|much|many|long|far|well|quickly|fast|often|early|good|sure|clear|little|few|hard|close|simple)\b)"
    r"\w+ as you",
    r"(?!(?:compan|business|firm|team|organi[sz]ation|client|customer|vendor|partner|product|tool)\w*)\w+s like "
    r"(?:you|yours)", r"at your level",
    r"you(?:'re| are) (?:just )?(?:a|an) \w+ with", r"the (?:judgement|judgment|brains?|wits|attention span|memory|"
    r"manners|sense|charisma|personality|imagination|charm|spine|timing|grasp) of (?:a|an)",
    # Praise that mocks: "Adorable.", "Bless you.", "How charming that you think..."
    r"(?:^|(?<=[.!?,]\s))(?:adorable|bless(?: you)?|cute|how (?:charming|cute|sweet|adorable|precious))\b"
    r"(?=[.!,]| that| of)",
    # The candidate called by a pet name, as a child is: "Bring it on paper, dear, with short words".
    r"(?:^|(?<=[,.!?]\s)|(?<=\band\s))(?:dear|sweetie|sweetheart|honey|darling)(?=\s*[,.!?]|$)",
    # What the candidate did likened to a small child's doing, with no "you" in the sentence: "it works the way it
    # works when a toddler recites a recipe".
    r"\b(?:like|when|than|as if|the way) (?:\w+ ){0,2}?(?:a|an) (?:[\w-]+ )?(?:toddler|child|kid|baby|infant)\b",
    # A small child's tools for what the candidate did or needs: "a crayon drawing", "explain it with crayons".
    r"crayons?",
    # The candidate as the least able who could still manage, or the one who did not: "simple enough that even you
    # got it", "it isn't difficult, even for you", "anyone who'd done their homework, unlike you", "numbers aren't your
    # strong suit".
    r"\beven (?:for |by |from )?you\b", r"\bunlike you\b",
    r"\w*(?:n't|not|never) (?:exactly |really )?your (?:strong suit|forte)",
    # Expectations of the candidate set low: "more than I expected from a team that thinks caching is a strategy".
    r"(?:more|better) than (?:i|we)(?: \w+)? (?:expected|hoped for) (?:from|of)",
    r"amateur hour", r"for your own sake",
    r"i doubt you could", r"can barely", r"with both hands",
    r"someone (?:who|that) can (?:read|talk|think|count|spell)",
    r"someone competent", r"this green", r"slept through", r"rules you out", r"anyone with a (?:spine|brain|clue)",
    r"half-baked", r"for a change",
)  # fmt: skip
# Facts a scenario holds back: who signs, and when it must be decided. Budgets are money figures (scenario_facts).
_AUTHORITY = _phrases(
    # Deciding whether, what or how to do something ("I'll decide whether to ignore it") is not signing.
    r"i(?:'ll| will| would)? (?:sign|decide(?! (?:whether|if|what|how|which|when)\b)|approve)",
    r"i(?:'m| am) the (?:one|person) who (?:signs|decides|approves)",
    r"sign(?:s|ing)?(?: it| this| that)? off",
    r"final (?:say|word|decision|call)", r"(?:final |the )?decision[- ]maker",
    r"(?:the )?(?:cfo|ceo|coo|cio|cto|vp|board|owner|director|head of \w+|finance|procurement|legal|my boss|"
    r"my manager) (?:signs|decides|approves)",
    r"signs anything", r"budget holder", r"(?<!not )my call",  # "not my call alone" names nobody
)  # fmt: skip
# Someone named who signs or decides ("Margaret signs", "Beatrice has the final say"): a capitalised name, not a
# pronoun.
_NAMED_SIGNER = re.compile(r"\b(?!(?:It|This|That|He|She|They|We|I|You|Nobody|Everyone)\b)[A-Z][a-z]+ "
                           r"(?:signs|decides|approves|has the final (?:say|word))\b")
# Any role or name that signs, approves or decides ("the CISO signs this", "our COO approves").
_ROLE_SIGNS = re.compile(r"\b(?:the|our|my) (?:[A-Z]{2,5}|[a-z]+(?: of [a-z]+)?) "
                         r"(?:signs|approves|decides|has the final (?:say|word))\b")
# Something decided, signed, closed or live within a span to come ("procurement closes in six weeks").
_NUMBER_WORD = (r"(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a few|a couple of|"
                r"the next \w+)")
_DUE_IN = _phrases(
    r"(?:signed|sign(?:s|ed)? off|decided|decides|decision|closes|closed|due|live|approved|approval|accepted|"
    rf"launch(?:es)?|ends|expires|deadline)\b[^.,;]*?\b(?:in|within) {_NUMBER_WORD} (?:days?|weeks?|months?)",
)  # fmt: skip
# A question for who signs or decides, and an answer that opens with a person: oneself, a role or a name.
_ASKS_SIGNER = _phrases(r"who\b[^?]*\b(?:decides?|signs?|approves?|makes the call|has the final (?:say|word))")
_OPENS_WITH_A_PERSON = re.compile(
    r"^(?:(?i:i (?:do|will|would|am|sign|decide|approve)|me|myself|(?:my|our|the) (?:cfo|ceo|coo|cto|cio|board|owner|"
    r"vp|director|head|boss|manager|chair|founder))\b|[A-Z][a-z]+(?=,| (?:does|do|will|signs|decides|approves)\b))")
_TIMELINE = _phrases(
    r"deadline", r"renew(?:s|al)?(?: is)? (?:in|on|by)", r"(?:decided|decide|decision|signed|live|done|in place) "
    r"(?:by|before)", r"(?:by|before) (?:the )?end of", r"need (?:it|something|this) (?:live |done |signed |running )?"
    r"(?:by|before)", r"\bq[1-4]\b", r"(?:first|second|third|fourth) quarter",
)  # fmt: skip
# A deadline is given away only with its date.
_DATE = _phrases(r"end of (?:the )?(?:year|quarter|month)", r"next (?:year|month|quarter|spring|summer|autumn|fall)",
                 r"renewal", r"board meeting")
# A deadline in other words: something that has to be done, or time running out.
_DUE = _phrases(r"out of time", r"(?:has|have|needs?|must|got) to be (?:signed|decided|done|live|ready|running|"
                r"approved|accepted|in place|finished)", r"(?:has|have|needs?|must) to (?:go|be) live")
# Having no deadline at all, in so many words.
_NO_DEADLINE = _phrases(r"no (?:real )?(?:rush|hurry|deadline|time pressure|pressure|fixed date)",
                        r"whenever (?:suits|works|you(?:'re| are) ready|you like)", r"not in a (?:rush|hurry)")
# A question about timing in other words: how long until, how soon, how quickly, by when (not how long a thing
# takes).
_ASKS_TIMING = _phrases(r"how long (?:until|till|before|do you have|have you got)", r"how (?:soon|quickly|fast)",
                        r"by when")
# What kind of answer a question asks for (a time for "when", a person for "who", an amount for "how much"), and
# the words that give one.
def _asking(*openers: str) -> re.Pattern[str]:
    return re.compile(r"(?:^|[.!?,]\s+)(?:and |so |but |okay,? )?(?:" + "|".join(openers) + r")\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _AnswerKind:
    asks: re.Pattern[str]  # the question asks for this kind
    gives: re.Pattern[str]  # the answer gives it (read with its numbers in digits)
    reading: Reading | None = None  # the reading it is, when it can be left out


# When something happened: only a question about the past ("when did it start?") is answered by it.
_PAST_TIME = _phrases(r"ago", r"last \w+", r"yesterday", r"since", r"used to")
_ASKED_ABOUT_THE_PAST = re.compile(r"\b(?:when|how long)\b[^?]*?\b(?:did|was|were|had|ago)\b", re.IGNORECASE)
# "By when" and "until when" ask for a time as "when" does, as they ask about timing for _ASKS_TIMING.
_TIME = _AnswerKind(_asking(r"(?:by|until|till) when", r"when", r"how long", r"how soon"), _phrases(
    r"ago", r"last \w+", r"next \w+", r"since", r"until", r"year\w*", r"month\w*", r"week\w*", r"day\w*",
    r"spring", r"summer", r"autumn", r"fall", r"winter", r"q[1-4]", r"quarter", r"january", r"february", r"march",
    r"april", r"may", r"june", r"july", r"august", r"september", r"october", r"november", r"december", r"soon",
    r"never", r"\d+"))
_PERSON = _AnswerKind(_asking(r"who"), _phrases(
    r"i", r"me", r"my \w+", r"our \w+", r"nobody", r"no one", r"cfo", r"ceo", r"it", r"finance", r"head of \w+",
    r"team", r"boss", r"people", r"staff", r"colleagues?", r"\w+(?:ists|ysts|ers|ors)",
    # Someone named as the one who does it ("Sunil does the final round"): a capitalised name before a verb.
    r"(?-i:(?!(?:It|This|That|There|He|She|They|We|You|Nobody|Nothing|Everyone|Everything|Something|The|A|An)\b)"
    r"[A-Z][a-z]+)(?: and [A-Z][a-z]+)? (?:does|do|runs|run|leads|owns|handles|will|is|has|signs|decides|approves|"
    r"interviews)"))
_AMOUNT = _AnswerKind(
    re.compile(_asking(r"how much", r"how many", r"how big", r"how large").pattern
               + r"|\b(?:cost|worth)(?: (?:you|us|me|them))?\s*\?", re.IGNORECASE),
    _phrases(r"\d+", r"enough", r"(?:a )?lot", r"lots", r"plenty", r"little", r"few", r"several", r"many", r"much",
             r"more", r"less", r"fewer", r"none", r"nothing", r"nobody", r"no one", r"half", r"most",
             r"dozens?", r"hundreds", r"thousands", r"millions", r"a couple", r"(?:just|only) (?:me|us|one|a few)",
             r"\w+-something", r"one", r"two", r"three",
             r"single", r"alone"), Reading.AMOUNT)
_ANSWER_KINDS = (_TIME, _PERSON, _AMOUNT)
# Declining to answer, or not knowing: an answer, in plain words, to whatever was asked.
_DECLINES = _phrases(
    r"(?:don't|do not|can't|cannot|won't|will not|wouldn't|would not|couldn't|could not) "
    r"(?:know|say|tell|share|discuss|name|disclose|comment)", r"no idea", r"not sure", r"(?:rather|prefer) not",
    r"hard to (?:say|tell|know|put a number on)", r"all i know", r"none of your business", r"next question",
    r"no comment", r"(?:it )?depends", r"not (?:really |yet )?(?:looking|interested|ready)",
)  # fmt: skip
# Small talk or an anecdote as a reply opens: a story, a past job, last night or the weekend, a question about the
# news or a game rather than the call.
_SMALL_TALK = _phrases(
    r"funny (?:story|thing)", r"did i (?:ever )?tell you", r"(?:did|have) you (?:see|seen|hear|heard|watch|watched|"
    r"catch|caught) (?:the|that|about)",
    r"at my (?:last|previous|old|former|first) (?:company|job|employer|place|firm)",
    r"(?:last|saturday|sunday|friday) night", r"(?:over )?the weekend", r"i was (?:on|at) (?:a|the) \w+ in",
)  # fmt: skip
# An aside, marked as one: "by the way", "did I mention", "speaking of", "you know, I was...".
_ASIDE = _phrases(r"by the way", r"did i (?:ever )?mention", r"speaking of", r"on (?:a|an) (?:\w+ )?(?:note|tangent)",
                  r"off[- ]topic", r"random(?:ly)?", r"unrelated", r"^you know,")
# A question about what happened: a story answers it.
_IN_THE_PAST = _phrases(r"did", r"was", r"were", r"had", r"happened", r"went", r"ago", r"last \w+", r"before",
                        r"used to")
# A story of the persona's own past, as a turn opens: a subject and a verb in the past tense.
_PAST_STORY = re.compile(r"^(?:(?:when|once|back when|so|well|actually),?\s+)?(?:i|we|they|he|she|the \w+|our \w+|"
                         r"someone)(?: \w+ly)? (?:was|were|did|had|spent|took|went|"
                         r"made|got|built|rebuilt|saw|met|ate|bought|[a-z]+[^e\W]ed)\b", re.IGNORECASE)
# A question put for a yes or a no ("Would that be useful?"), and the words that give one.
_YES_OR_NO_QUESTION = re.compile(
    r"(?:^|,\s*)(?:and |so |but |okay,? )?(?:do|does|did|is|are|was|were|can|could|will|would|shall|should|have|has)"
    r"\s+\w+\b[^?]*\?\s*$", re.IGNORECASE)
_YES_OR_NO = _phrases(r"yes", r"yeah", r"yep", r"no", r"nope", r"sure", r"of course", r"definitely", r"absolutely",
                      r"certainly", r"not", r"\w+n't", r"never", r"maybe", r"perhaps", r"probably", r"please do",
                      r"fine", r"go ahead", r"by all means")
# A sentence that says something of its own has a subject or a verb: a pronoun, an auxiliary, a contraction or a
# past tense. What a relative clause says ("Someone who has run...") is the noun's, not the sentence's.
_CLAUSE_SIGNS = re.compile(
    r"\b(?:i|we|you|he|she|they|it|there|is|are|was|were|be|been|has|have|had|do|does|did|will|would|can|could|"
    r"should|shall|may|might|must|\w+'(?:s|re|ve|m|ll|d)|\w+n't|\w+[^e\W]ed)\b", re.IGNORECASE)
_RELATIVE = re.compile(r"\b(?:who|that|which|whose|where)\b.*", re.IGNORECASE)
# A name or a role given for "who", alone or with a word of how far ("Viktor, in the end.", "Hannah and Dmitri.").
_NAMED = re.compile(r"^(?:(?:the|our|my) (?:\w+ ){0,2}(?:vp|director|chief|lead|manager|owner|head|board|founder|"
                    r"president|officer|committee)\b|(?-i:[A-Z][a-z]+)(?: and (?-i:[A-Z][a-z]+))?(?:[,.;]|$| mostly| "
                    r"in the end))", re.IGNORECASE)
# Denying what a question takes for granted ("How do you track it?" "We don't.") answers it.
_DENIES = re.compile(r"^(?:we|i|they|it|nobody|no one)\s+(?:don't|do not|doesn't|does not|can't|cannot|never|haven't|"
                     r"have not|didn't|did not)\b", re.IGNORECASE)
# A pronoun in an answer's first clause points back at what was asked ("It keeps going up", "I like it").
_REFERS_BACK = _phrases(r"it", r"they", r"them", r"that", r"those")
_FIRST_CLAUSE = re.compile(r"[,.;:!?]|\s(?:and|but|so)\s")
# Why a thing is so, in any words: an answer to "why" that gives a reason answers it.
_WHY = _asking(r"why")
_REASON = _phrases(r"because", r"since", r"so", r"due to", r"the reason", r"caused?")
_BUDGET_WORDS = _phrases(r"budget\w*", r"spend", r"set aside", r"afford", r"invest", r"allocated", r"up to",
                         r"a year", r"per year", r"annually", r"thousand", r"million")
# What the persona could pay, by name or as a sum for this: a sum in the same sentence is the budget even in answer
# to another question.
_PAYING = _phrases(r"budget\w*", r"spend", r"set aside", r"afford", r"invest", r"allocated", r"fee", r"price",
                   r"salary", r"base", r"band", r"for (?:this|it)")
# Pay asked for in other words: a salary, its band, a range to work within.
_ASKS_PAY = _phrases(r"salary", r"base", r"band", r"compensation", r"(?:what|which)(?:'s| is)? (?:the )?(?:\w+ )?range")
# What an amount counts, read in the words around it (numbers in digits): a plural noun right after it ("300000
# accounts", "10000 concurrent users"), the whole that a part is taken of ("a 10th of about 40000"), or the things a
# threshold sorts ("renewals over 20000", "anything above 25000").
# A difference, not a sum ("twenty thousand more", "ten thousand higher").
_DIFFERENCE = re.compile(r"^\s*(?:\w+ )?(?:more|higher|less|lower|extra|above|below|over|under|cheaper|dearer)\b",
                         re.IGNORECASE)
_COUNTS_THINGS = re.compile(r"^\s*(?:(?!(?:a|an|the|per|plus|in|on|for|to|and|or|of|with|dollars|pounds|euros|bucks)\b)"
                            r"[a-z-]+\s+)?(?!(?:dollars|pounds|euros|bucks|is|was|has|does|this|its|us|as|plus|thus|"
                            r"across|always|perhaps)\b)[a-z-]*[^s\W]s\b", re.IGNORECASE)
_PART_OF = re.compile(r"\b(?:half|quarter|\d+(?:st|nd|rd|th)|percent|per cent|%|share|part|fraction|portion|most|some|"
                      r"all|none) of (?:(?:about|around|roughly|some|nearly|almost|maybe) )?(?:the |an? )?\$?\s*$",
                      re.IGNORECASE)
_THRESHOLD = re.compile(r"\b(?:anything|everything|something|ones|(?:every|each|any|all) \w+|(?!(?:costs|runs|pays|"
                        r"spends|needs|goes|is|was|this|us|its|less)\b)\w+s) (?:over|above|under|below|beyond) "
                        r"(?:(?:about|around|roughly) )?\$?\s*$", re.IGNORECASE)
# An amount asked for anywhere in a question ("can I ask how many transactions a day we expect?").
_HOW_MUCH = _phrases(r"how (?:much|many)")
_HOW_MANY = _phrases(r"how many")
# A sentence about what happened, and one that says what the persona can pay now whatever its tense.
_PAST_SUM = _phrases(r"did", r"was", r"were", r"had", r"offered", r"asked for", r"came to", r"paid", r"spent",
                     r"cost us", r"walked", r"last (?:year|time|round|quarter)", r"ago")
_CAN_PAY = _phrases(r"budget\w*", r"band", r"cap", r"can", r"could", r"will", r"afford", r"set aside", r"approved")
# A threshold that caps what gets approved is a budget ("anything over 400000 won't get approved").
_CAP = _phrases(r"approv\w*", r"sign(?:ed)? off", r"get through")
# An amount in a sum ("11 cents times 40000") is worked out, not given.
_OPERAND_BEFORE = re.compile(r"\b(?:times|multiplied by|divided by|x)\s*$", re.IGNORECASE)
_OPERAND_AFTER = re.compile(r"^\s*(?:times|multiplied by|divided by|x)\b", re.IGNORECASE)
# What a rate is taken over, not a sum ("one per ten thousand", "two in every thousand").
_PER = re.compile(r"\b(?:per|in every|out of|for every)\s+$", re.IGNORECASE)
# A question for the number of people a company has: the numbers that answer it count them.
_ASKS_HEADCOUNT = _phrases(r"how many (?:people|employees|staff)\b[^?]*\b(?:work|company|employ\w*|are there|are you|"
                           r"do you have)",
                           r"how (?:big|large) is (?:the|your) company")
# What a candidate asks about each fact; asking is what earns it.
_ASKS = {
    "budget": _phrases(r"budget\w*", r"spend\w*", r"invest\w*", r"afford", r"price range", r"set aside",
                       r"money", r"pay"),
    "authority": _phrases(r"who\b[^?]*\b(?:decides?|signs?|approves?|weigh in|involved|else|makes the call)",
                          r"decision\w*", r"approv\w*", r"sign(?:s|ed|ing|atures?)?"),
    "timeline": _phrases(r"(?:^|(?<=[.!?,])\s+)(?:and |so |but )?when", r"timeline", r"deadline", r"how soon",
                         r"timing", r"time ?frame", r"by when", r"renewal", r"how long do you have"),
}
# Accepting what the candidate claims or proposes, as a turn opens.
_AGREEMENT = re.compile(
    r"^(?:yes|yeah|yep|sure|right|agreed|okay|ok|good|great|wonderful|perfect|fine|absolutely|totally|exactly|"
    r"of course|you(?:'re| are) (?:quite |absolutely |totally )?right|"
    r"makes sense|that (?:makes sense|sounds|is (?:impressive|great|good))|sounds)\b", re.IGNORECASE)
# Accepting in other words, in any clause: a verdict that it will do ("sounds right", "works for us", "happy with
# that", "that is reassuring").
_ACCEPTING = _phrases(
    r"(?:sounds|looks|seems|is|that's) (?:all )?(?:right|good|fine|sensible|reasonable|great|perfect|ideal|reassuring)",
    r"(?:works|is fine|is good) (?:for|by|with) (?:me|us)", r"(?:happy|fine|comfortable|okay|ok) with (?:that|this|it)",
    r"sounds \w+ to (?:me|us)", r"all (?:we|i) (?:really )?need", r"what (?:we|i) (?:hoped|wanted|needed|asked) for",
    r"(?:let's|let us) do (?:it|that|this)",
)  # fmt: skip
# Accepting a claim as praise or agreement, a clause of its own: "Ten times faster, impressive.", "That's exactly
# what we need.", "I agree, ...".
_PRAISE = re.compile(
    r"(?:^|[,.;:!?]\s*)(?:(?:that's|that is|it's|it is)\s+)?(?:(?:really|very|quite|pretty|so|genuinely|exactly)\s+)?"
    r"(?:impressive|great|good|excellent|brilliant|perfect|lovely|nice|fantastic|wonderful|reassuring|promising|"
    r"what (?:we|i) (?:need|want)|i (?:fully |completely |totally )?agree)\s*(?:[.!;,]|$)", re.IGNORECASE)
# A good verdict on a claim in any shape: what it would be ("would be remarkable"), exactly what is needed, a
# conclusion drawn from it ("right, then we should raise it"), the candidate the best there is, good to hear.
_GOOD = (r"(?:remarkable|fantastic|wonderful|excellent|brilliant|impressive|amazing|ideal|perfect|great|good|fine|"
         r"reassuring|promising|welcome|a relief|huge|spot on)")
_APPROVAL = _phrases(
    rf"(?:would|will|'d|'ll) be (?:\w+ )?{_GOOD}",
    rf"(?:that|this|it)(?:'s| is| sounds| looks| seems) (?:\w+ )?{_GOOD}",
    r"exactly (?:the \w+(?: \w+)?|what) (?:we|i|they)(?:'d| would)? (?:need|want|wanted|hoped|like)",
    r"(?:^|(?<=[,.;]))\s*then (?:(?:we|i)(?: should| can| could| will|'ll| must)|let's)\b",
    r"(?:glad|relieved|pleased|happy|great|good) to hear",
    r"you(?:'re| are) (?:clearly |easily |by far |definitely )?(?:the )?(?:strongest|best|ideal|right|perfect) "
    r"(?:candidate|fit|person|choice|vendor|partner)",
    r"(?:that|which|this) (?:alone )?would (?:more than )?(?:cover|solve|fix|clear|pay for|meet|hit)",
)  # fmt: skip
# A sentence that draws a conclusion from what it answers: it opens with "then" or closes on ", then".
_CONCLUSION = re.compile(r"^then\b|,\s*then\W*$", re.IGNORECASE)
# A greeting said back ("Morning.") takes nothing as read.
_GREETING_STEMS = frozenset(word[:5] for word in "morning afternoon evening hello hi hey welcome thanks".split())
# Words that turn a turn against what it accepts: a worry named without one is settled, not raised.
_ADVERSATIVE = _phrases(r"but", r"however", r"though", r"although", r"unless", r"except", r"still", r"if")
# An offer or a proposal put as a question ("Shall we set up a trial?").
_PROPOSAL = _phrases(r"we", r"our", r"us", r"i can", r"can i", r"shall i", r"let me")
# Saying sorry for oneself, or that one heard, which claims nothing ("Sorry, I talked over you.", "Go on.").
_ACKNOWLEDGEMENT = re.compile(
    r"^(?:(?:sorry|apologies|my apologies|excuse me)(?:,? i\b.*)?|i(?:'m| am) listening|go (?:on|ahead)|i hear you|"
    r"understood|got it|fair(?: enough)?|noted|i see|okay|ok|thanks|thank you)\W*$", re.IGNORECASE)
# Doubt, a condition or an objection, anywhere in a turn.
_PUSHBACK = _phrases(
    r"but", r"however", r"though", r"not sure", r"unless", r"prove\w*", r"proof", r"doubt\w*", r"worr\w*",
    r"concern\w*", r"tried", r"too (?:high|much|expensive|long|slow|risky)", r"locked", r"competitor\w*",
    r"cheaper", r"lower price", r"no time", r"not interested", r"skeptic\w*", r"sceptic\w*", r"risk\w*",
    r"measured how", r"show me", r"name one", r"says who", r"we'll see", r"we will see", r"no promises",
)  # fmt: skip
# A worry named as none or as dealt with: "no risk", "not a concern", "that risk is covered".
_WORRY_DISMISSED = re.compile(
    r"\b(?:(?:no|zero|not an?|not any)\s+(?:real\s+|big\s+)?(?:risks?|concerns?|worry|worries|doubts?)"
    r"|(?:not|no longer)\s+(?:worried|concerned)"
    r"|(?:risks?|concerns?|worry|worries|doubts?)\s+(?:is|are|was|were)\s+(?:now\s+|all\s+|fully\s+)?"
    r"(?:covered|handled|solved|settled|closed|gone|addressed|answered|dealt with|taken care of))\b", re.IGNORECASE)
# A candidate's question that asks for an account, not a fact: why, how, what, tell me, walk me through.
_OPEN_QUESTION = _phrases(
    r"why", r"how(?! (?:many|much|long|often|big|soon|old))", r"what", r"tell me", r"walk me through", r"describe",
    r"explain",
)  # fmt: skip
# A number or a quantity of something: a short answer that counts what it names says something concrete.
_QUANTIFIED = _phrases(r"\d+(?:[.,]\d+)*", r"(?:too many|too much|fewer|more|less|lots of|a lot of|a few|several|"
                       r"many|much|half) \w+")
# An open question put as a request, without a question mark.
_REQUEST = re.compile(r"^(?:\w+[,.]\s+)?(?:tell me|walk me through|describe|explain)\b", re.IGNORECASE)
# Words of the business a call is about: an answer made only of other words is about something else.
_BUSINESS_STEMS = frozenset(
    "budge cost price spend money pay inves contr vendo tool tools softw platf proce syste team staff manag hire "
    "hires new onboa paper form forms train work job role custo clien sale sales deal propo pilot trial demo proof "
    "numbe data repor alert secur phish email cloud bill serve engin ticke appro decid decis sign board finan cfo "
    "it itself integ setup rollo timel deadl renew month week weeks day days year quart time probl pain issue risk "
    "audit compl polic store stores shop retai bank offic sites site compa busin peopl emplo analy resou range "
    "thous hundr milli perce".split())
_STOPWORDS = frozenset(
    "a an the and or but so of to in on at for with from by as is are was were be been being it its it's this that "
    "these those i i'm me my we we're our us you you're your he she they them their there here what which who whom "
    "whose when where why how do does did doing have has had having not no yes yeah just really very quite about "
    "into than then too also if because can could would should will shall may might must up out over again once "
    "all any both each few more most other some such only own same lately yesterday today honestly well oh "
    "something anything nothing everything before after like".split())
# The fix each coach's flag calls for, as a recommendation and as the rule an evolution run proposes for it.
MINIMAL_ANSWER_FIX = "Answer an open question with a reason or an example, not a word."
EARLY_DISCLOSURE_FIX = ("Hold back your budget, who signs and your deadline until the candidate asks about them, after "
                        "they have asked about your problem.")
NO_RESISTANCE_FIX = "Push back before you accept a claim: raise one of your objections"
REPETITION_FIX = "Never repeat an earlier answer: move the conversation on or ask why."
UNRESPONSIVE_FIX = "Answer what the candidate just asked, or push back on it; never change the subject."
CONTRADICTS_SCENARIO_FIX = "Keep to the scenario's facts: its budget, its deadline, its size and its industry."
HOSTILITY_FIX = "Be as blunt as your traits allow, but never insult the candidate."
# Replies that say nothing of their own: said again, they are no repetition.
_BARE_REPLIES = frozenset("yes yeah yep no nope sure fine okay ok right maybe perhaps thanks thank you go on ahead "
                          "noted understood".split())
# Persona answers this many words or more are judged for what they answer; shorter ones are judged for length.
RESPONSIVE_MIN_WORDS = 6
# An answer this similar to an earlier one of the persona (difflib ratio over words) says it again.
REPEATED_RATIO = 0.8
REPEATED_MIN_WORDS = 5
# A point made again in other words: at least this many content words (by their first letters, so "logged" and "login"
# are one) shared with an earlier persona turn, and at least this share of the shorter turn's content words.
# Numbers are left out: a figure agreed on recurs in a call without making the same point ("Two workshops, then.").
SAME_POINT_MIN_SHARED = 3
SAME_POINT_MIN_SHARE = 0.5
# Two questions whose content words overlap this much (shared over all) ask the same thing.
SAME_QUESTION_SHARE = 0.5
# A turn of at most this many words may do what was proposed without a word of agreement ("Add both.").
COMPLYING_WORDS = 8
# Three words or fewer to an open question leave the candidate nothing to work with.
MINIMAL_WORDS = 3
# From this difficulty a persona resists: it raises at least one objection before it accepts a claim.
RESISTING_DIFFICULTY = 3
# From this difficulty a fact is earned only after a question about something else (the persona's problem).
GUARDED_DIFFICULTY = 4
# A budget or a company size named this far (a share of the range's ends) outside the scenario's range contradicts
# it: none, since every fold of the cross-validation on twelve parts chose none.
RANGE_MARGIN_PERCENT = 0


@dataclass(frozen=True, slots=True)
class AuditRules:
    """The numbers the coach's flags turn on and the readings they use. The defaults are the auditor's; the
    evaluation on the labelled set chooses them again on each fold of its cross-validation, to show whether its
    figures hang on them."""

    responsive_min_words: int = RESPONSIVE_MIN_WORDS
    minimal_words: int = MINIMAL_WORDS
    resisting_difficulty: int = RESISTING_DIFFICULTY
    guarded_difficulty: int = GUARDED_DIFFICULTY
    range_margin_percent: int = RANGE_MARGIN_PERCENT
    readings: frozenset[Reading] = frozenset(Reading)


DEFAULT_RULES = AuditRules()
# Warm phrases a low-agreeableness persona would not use.
_WARM_TONE = _phrases(
    r"thank you so much", r"thanks so much", r"that's (?:so|very) kind", r"you're (?:absolutely|totally|so) right",
    r"i (?:totally|completely|fully) agree", r"no worries(?: at all)?", r"i (?:completely|totally) understand",
    r"that's (?:very|really|so) helpful", r"my pleasure", r"how lovely", r"you're (?:so|very) (?:kind|sweet)",
)  # fmt: skip
# Harsh phrases a high-agreeableness persona would not use.
_HARSH_TONE = _phrases(
    r"waste of (?:my|our) time", r"that's (?:stupid|ridiculous|nonsense)", r"ridiculous", r"nonsense",
    r"shut up", r"i (?:don't|do not) care", r"are you even listening", r"get to the point", r"idiot\w*",
)  # fmt: skip
# Giving in: agreeing to buy or to move on.
_CONCESSION = _phrases(
    r"you've convinced me", r"i'm convinced", r"i'm sold", r"sign me up", r"let's do (?:it|this)",
    r"sounds good to me", r"i'm in", r"send (?:me |over )?the contract", r"let's move forward",
    r"where do i sign", r"you've won me over", r"count me in",
)  # fmt: skip

_COOL_TRAITS = (
    "sceptic",
    "skeptic",
    "cynic",
    "blunt",
    "cold",
    "abrasive",
    "dismissive",
    "impatient",
    "curt",
    "hostile",
    "gruff",
    "guarded",
    "aloof",
    "distant",
    "suspicious",
    "disagreeable",
)
_WARM_TRAITS = (
    "warm",
    "friendly",
    "agreeable",
    "kind",
    "polite",
    "gentle",
    "easygoing",
    "easy-going",
    "supportive",
    "cheerful",
)
_SCEPTICAL_TRAITS = ("sceptic", "skeptic", "cynic", "suspicious", "guarded", "distrust", "wary", "doubt", "cautious")

# Worst first: breaking character and insults cost the most, then giving the game away, then tone, length, pacing.
_SEVERITY = {
    FlagReason.OUT_OF_CHARACTER: 0,
    FlagReason.HOSTILITY: 1,
    FlagReason.EARLY_DISCLOSURE: 2,
    FlagReason.CONTRADICTS_SCENARIO: 3,
    FlagReason.NO_RESISTANCE: 4,
    FlagReason.ENTHUSIASM_LEAK: 5,
    FlagReason.INCONSISTENT: 6,
    FlagReason.UNRESPONSIVE: 7,
    FlagReason.REPETITION: 8,
    FlagReason.TOO_LONG: 9,
    FlagReason.MINIMAL_ANSWER: 10,
    FlagReason.PACING: 11,
    FlagReason.OTHER: 12,
}


@dataclass(frozen=True, slots=True)
class _Flag:
    quote: FlaggedQuote
    weight: int  # orders flags of one reason, larger is worse


@dataclass
class _Audit:
    """One audit in the making: the persona's turns, and what the checks found so far."""

    profile: PersonaProfile
    ordered: list[Turn]  # every turn of the call, in order
    persona: list[Turn]  # the persona's turns
    texts: list[str]
    counts: list[int]  # words per persona turn
    target: WordRange
    rules: AuditRules
    flags: list[_Flag] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.persona)

    @property
    def average(self) -> float:
        return sum(self.counts) / self.count

    def reads(self, reading: Reading) -> bool:
        return reading in self.rules.readings

    def spoken(self) -> Iterable[tuple[Turn, str]]:
        return zip(self.persona, self.texts, strict=True)

    def flag(self, turn: Turn, text: str, reason: FlagReason, explanation: str, weight: int) -> None:
        self.flags.append(_Flag(FlaggedQuote(turn.sequence, _excerpt(text), reason, explanation,
                                             candidate_before(self.ordered, turn.sequence)), weight))

    @functools.cached_property
    def repeats(self) -> list[_Repeat]:
        """Read once per audit: the repetition and the responsiveness checks both need it."""
        return _repeats(self)

    def asked(self) -> list[list[str]]:
        """For each persona turn, what the candidate said before it, oldest first."""
        said: list[str] = []
        before = []
        for turn in self.ordered:
            if turn.role == Role.ASSISTANT:
                before.append(list(said))
            else:
                said.append(normalise(turn.text))
        return before


# The classifiers fitted on the labelled persona turns, for the flaws where they find more than the rules alone.
FITTED_CLASSIFIERS: Mapping[str, FlawClassifier] = load_classifiers()


def audit_persona(turns: Iterable[Turn], profile: PersonaProfile, rules: AuditRules = DEFAULT_RULES,
                  classifiers: Mapping[str, FlawClassifier] = FITTED_CLASSIFIERS) -> PersonaAudit:
    """Audit the persona's side of a call; raises ValueError when the persona never spoke. A turn has a flaw when
    the rules find it or the flaw's fitted classifier, given what the rules read in the turn, does; for a flaw whose
    classifier decides, when the classifier does."""
    audit = _rules_audit(turns, profile, rules)
    brevity, enthusiasm, authenticity, consistency, pacing, giving_in = _apply_rules(audit)
    fitted = _fitted_flags(audit, classifiers)  # each costs what the same flag of the rules costs; one dropped, nothing
    brevity -= 2 * fitted[FlagReason.MINIMAL_ANSWER]
    authenticity -= (4 * fitted[FlagReason.OUT_OF_CHARACTER] + 2 * fitted[FlagReason.REPETITION]
                     + 2 * fitted[FlagReason.UNRESPONSIVE])
    consistency -= 3 * fitted[FlagReason.CONTRADICTS_SCENARIO] + 4 * fitted[FlagReason.HOSTILITY]
    pacing -= 3 * fitted[FlagReason.EARLY_DISCLOSURE] + 2 * fitted[FlagReason.NO_RESISTANCE]
    scores = AuditScores(
        brevity=_score(brevity),
        authenticity=_score(authenticity),
        consistency=_score(consistency - (2 * giving_in if profile.sceptical else 0)),
        enthusiasm_leak=_score(enthusiasm),
        pacing=_score(pacing),
    )
    flags = sorted(audit.flags, key=lambda flag: (_SEVERITY[flag.quote.reason], -flag.weight, flag.quote.sequence))
    return PersonaAudit(
        archetype=profile.archetype,
        difficulty=profile.difficulty,
        scores=scores,
        overall_score=round(sum(scores.as_tuple()) / 5, 2),
        avg_words_per_turn=round(audit.average, 2),
        target_words_per_turn=audit.target,
        persona_turn_count=audit.count,
        flagged_quotes=tuple(flag.quote for flag in flags[:MAX_FLAGGED_QUOTES]),
        recommendations=tuple(dict.fromkeys(audit.recommendations))[:MAX_RECOMMENDATIONS],
    )


def _rules_audit(turns: Iterable[Turn], profile: PersonaProfile, rules: AuditRules) -> _Audit:
    ordered = sorted(turns, key=lambda turn: turn.sequence)
    persona = [turn for turn in ordered if turn.role == Role.ASSISTANT]
    if not persona:
        raise ValueError("no persona turns to audit")
    texts = [normalise(turn.text) for turn in persona]
    return _Audit(profile, ordered, persona, texts, [words(text) for text in texts],
                  target_words_per_turn(profile.difficulty), rules)


def _apply_rules(audit: _Audit) -> tuple[float, float, float, float, float, int]:
    """Every rule's flags; the brevity, enthusiasm, authenticity, consistency and pacing they leave, and how often
    the persona gave in."""
    brevity = _brevity(audit) - 2 * _minimal_answers(audit)
    enthusiasm = _enthusiasm(audit)
    authenticity = (_authenticity(audit)  # counts the enthusiasm leaks flagged before it
                    - 2 * _repetition(audit) - 2 * _unresponsive(audit))  # repeats are judged before responsiveness
    consistency = _consistency(audit) - 3 * _contradictions(audit) - 4 * _hostility(audit)
    pacing, giving_in = _pacing(audit)
    pacing -= 3 * _early_disclosures(audit) + 2 * _no_resistance(audit)
    return brevity, enthusiasm, authenticity, consistency, pacing, giving_in


def _brevity(audit: _Audit) -> float:
    """The mean against the maximum, how many turns run over it, and answers too short to work with."""
    target, average = audit.target, audit.average
    too_long = TOO_LONG_FACTOR * target.max_words
    over = sum(n > target.max_words for n in audit.counts)
    for (turn, text), n in zip(audit.spoken(), audit.counts, strict=True):
        if n > too_long:
            audit.flag(turn, text, FlagReason.TOO_LONG, f"{n} words; target {target}", n)
    brevity = 10 - 4 * over / audit.count - 5 * max(0.0, average / target.max_words - 1)
    if average < target.min_words / 2:
        brevity -= 2  # one-word answers leave the candidate nothing to work with
    if over:
        audit.recommendations.append(f"Keep answers to {target} words until the candidate earns more.")
    elif average < target.min_words / 2:
        audit.recommendations.append(f"Give the candidate something to work with: answers of {target} words.")
    return brevity


def _enthusiasm(audit: _Audit) -> float:
    """Enthusiasm leaks: curated phrases and exclamation-heavy turns."""
    leaked: dict[str, int] = {}
    leaks = 0
    exclaiming = 0
    for turn, text in audit.spoken():
        found = [name for name, pattern in _ENTHUSIASM if pattern.search(text)]
        exclamations = text.count("!")
        if not found and exclamations <= EXCLAMATION_LIMIT:
            continue
        reasons = [f"'{name}'" for name in found]
        if exclamations > EXCLAMATION_LIMIT:
            reasons.append(f"{exclamations} exclamation marks")
            exclaiming += 1
        for name in found:
            leaked[name] = leaked.get(name, 0) + 1
        leaks += max(1, len(found))
        audit.flag(turn, text, FlagReason.ENTHUSIASM_LEAK, "Enthusiasm leak: " + ", ".join(reasons), len(reasons))
    for name, _ in sorted(leaked.items(), key=lambda item: -item[1]):
        audit.recommendations.append(f"Never say '{name}': too warm for someone who didn't ask for this call.")
    if exclaiming:
        audit.recommendations.append("Drop the exclamation marks; keep a flat, guarded tone.")
    return 10 - 3 * leaks


def _authenticity(audit: _Audit) -> float:
    """Breaking character, and assistant-like eagerness (the turns that leaked enthusiasm)."""
    breaks = 0
    for turn, text in audit.spoken():
        hits = _break_hits(audit, text)
        if hits:
            breaks += 1
            explanation = "Breaks character: " + ", ".join(f"'{hit}'" for hit in hits)
            audit.flag(turn, text, FlagReason.OUT_OF_CHARACTER, explanation, len(hits))
    leak_turns = sum(flag.quote.reason == FlagReason.ENTHUSIASM_LEAK for flag in audit.flags)
    if breaks:
        audit.recommendations.append(
            "Stay in character: never mention being an AI, your instructions or your difficulty, "
            "and never offer to help."
        )
    return 10 - 4 * breaks - 1 * leak_turns


def _break_hits(audit: _Audit, text: str) -> list[str]:
    """The words in which a turn breaks character, each once ("As an AI" is read by more than one pattern)."""
    hits = _matches(_BREAKS_CHARACTER, text)
    for reading, pattern in ((Reading.STEPPING_OUT, _STEPS_OUT), (Reading.ASSISTANT_VOICE, _ASSISTANT_VOICE),
                             (Reading.META_VOICE, _META_VOICE), (Reading.NARRATION, _NARRATION),
                             (Reading.EVALUATOR_VOICE, _EVALUATOR_VOICE)):
        if audit.reads(reading):
            hits += _matches(pattern, text)
    return list(dict.fromkeys(hits))


def _consistency(audit: _Audit) -> float:
    """Consistency with the traits: the tone they rule out."""
    profile = audit.profile
    tone_checks: list[tuple[re.Pattern[str], str]] = []
    if profile.low_agreeableness:
        tone_checks.append((_WARM_TONE, "too warm for a low-agreeableness persona"))
    if profile.high_agreeableness:
        tone_checks.append((_HARSH_TONE, "too harsh for a high-agreeableness persona"))
    off_tone = 0
    off_phrases: dict[str, str] = {}
    for pattern, why in tone_checks:
        for turn, text in audit.spoken():
            hits = _matches(pattern, text)
            if hits:
                off_tone += 1
                explanation = ", ".join(f"'{hit}'" for hit in hits) + f": {why}"
                audit.flag(turn, text, FlagReason.INCONSISTENT, explanation, len(hits))
                for hit in hits:
                    off_phrases.setdefault(hit.casefold(), why)
    for applies, kind, advice in ((profile.low_agreeableness, "too warm", "Stay cool and guarded: never use warm"),
                                  (profile.high_agreeableness, "too harsh", "Push back politely: never use harsh")):
        examples = ", ".join(f"'{p}'" for p, why in off_phrases.items() if why.startswith(kind))
        if applies and examples:
            audit.recommendations.append(f"{advice} phrases such as {examples}.")
    return 10 - 3 * off_tone


def _pacing(audit: _Audit) -> tuple[float, int]:
    """Giving in too early, monologues, deflecting with questions, a rhythm that swings. Returns the score and
    how many times the persona gave in too early (which a sceptical persona's consistency pays for too)."""
    profile, target, count, average = audit.profile, audit.target, audit.count, audit.average
    pacing = 10.0
    earliest = min(0.8, 0.1 * profile.difficulty + (0.3 if profile.sceptical else 0.0))
    early = 0
    for index, (turn, text) in enumerate(audit.spoken()):
        hits = _matches(_CONCESSION, text)
        if hits and (index + 1) / count < earliest:
            early += 1
            explanation = (
                f"Gives in at persona turn {index + 1} of {count} ('{hits[0]}'); "
                f"too early for difficulty {profile.difficulty}"
                + (" and a sceptical persona" if profile.sceptical else "")
            )
            audit.flag(turn, text, FlagReason.PACING, explanation, count - index)
    if early:
        pacing -= 3 * early
        audit.recommendations.append(
            "Hold your ground: agree to nothing until the candidate has answered your objections.")
    monologues = _monologues(audit.ordered, MONOLOGUE_FACTOR * target.max_words)
    for first, run_words, run_turns, text in monologues:
        explanation = f"Monologue of {run_words} words over {run_turns} messages; target {target} per turn"
        audit.flag(first, text, FlagReason.PACING, explanation, run_words)
    if monologues:
        pacing -= 2 * len(monologues)
        audit.recommendations.append("Make one point per turn, then stop and let the candidate lead.")
    asking = sum(text.rstrip().endswith("?") for text in audit.texts)
    if count >= 3 and asking / count > DEFLECTION_SHARE:
        pacing -= 2
        audit.recommendations.append("Answer the candidate's question before asking one of your own.")
    if count >= 3 and average > 0:
        deviation = math.sqrt(sum((n - average) ** 2 for n in audit.counts) / count)
        swing = deviation / average
        if swing > STEADY_CV:
            pacing -= min(3.0, (swing - STEADY_CV) * 5)
            audit.recommendations.append(f"Keep a steady rhythm: every answer within {target} words.")
    return pacing, early


def _minimal_answers(audit: _Audit) -> int:
    """A word or three in answer to an open question, unless they count what they name ("Too many alerts.")."""
    found = 0
    for (turn, text), n, before in zip(audit.spoken(), audit.counts, audit.asked(), strict=True):
        question = before[-1] if before else ""
        if (n <= audit.rules.minimal_words and _OPEN_QUESTION.search(question)
                and ("?" in question or _REQUEST.match(question))
                and not (audit.reads(Reading.COUNTED) and _QUANTIFIED.search(scenario_facts.digits(text)))):
            found += 1
            audit.flag(turn, text, FlagReason.MINIMAL_ANSWER, f"{n} word(s) to an open question: '{question}'", 1)
    if found:
        audit.recommendations.append(MINIMAL_ANSWER_FIX)
    return found


def _early_disclosures(audit: _Audit) -> int:
    """Budget, signer or deadline given before the candidate asked about it; from GUARDED_DIFFICULTY also before
    the candidate asked about anything else. Easy personas are forthcoming: nothing is flagged at difficulty 1."""
    profile = audit.profile
    if profile.difficulty == MIN_DIFFICULTY:
        return 0
    found = 0
    # "we are locked in until next year" says a fact of the persona's objections; what an objection adds to them
    # ("I'm not raising the band above one ninety-five") is given away.
    patterned = set(facts_given(" ".join(profile.objection_patterns), "", audit.rules.readings))
    for (turn, text), before in zip(audit.spoken(), audit.asked(), strict=True):
        question = before[-1] if before else ""
        sentences = [(sentence, _raises_objection(sentence, profile)) for sentence in _sentences(text)]
        given = (" ".join(sentence for sentence, objects in sentences if not objects)
                 if audit.reads(Reading.OBJECTING_SENTENCE) else text)
        facts = ([] if _raises_objection(given, profile)
                 else facts_given(given, question, audit.rules.readings, profile.scenario))
        if audit.reads(Reading.FACT_IN_OBJECTION):
            objecting = " ".join(sentence for sentence, objects in sentences if objects)
            facts += [fact for fact in facts_given(objecting, question, audit.rules.readings)
                      if fact not in facts and fact not in patterned]
        unearned = [fact for fact in facts if not _earned(fact, before, profile, audit.rules)]
        if unearned:
            found += 1
            audit.flag(turn, text, FlagReason.EARLY_DISCLOSURE,
                       f"Gives its {', '.join(unearned)} before the candidate earned it (difficulty "
                       f"{profile.difficulty})", len(unearned))
    if found:
        audit.recommendations.append(EARLY_DISCLOSURE_FIX)
    return found


def facts_given(text: str, question: str = "", readings: frozenset[Reading] = DEFAULT_RULES.readings,
                scenario: ScenarioFacts | None = None) -> list[str]:
    """The scenario facts a persona turn gives in answer to the candidate's ``question``: "budget" (a sum of money
    spoken of as a budget), "authority" (who signs) and "timeline" (a deadline with its date, or the ``scenario``'s
    own span or date said outside a sentence about the past), in that order."""
    given = []
    if budget_figures(text, question, readings, disclosed=True):
        given.append("budget")
    signer_answered = (Reading.SIGNER_ANSWERED in readings and bool(_ASKS_SIGNER.search(question))
                       and bool(_OPENS_WITH_A_PERSON.match(text.strip())))
    role_signs = Reading.ROLE_SIGNS in readings and bool(_ROLE_SIGNS.search(text))
    if _AUTHORITY.search(text) or _NAMED_SIGNER.search(text) or signer_answered or role_signs:
        given.append("authority")
    dated = bool(scenario_facts.quarters(text) or _DATE.search(text))
    due = Reading.DEADLINE_WORDS in readings and bool(_DUE.search(text))
    spans = Reading.DEADLINE_WORDS in readings and bool(scenario_facts.spans_in_weeks(text))
    # A span to come in answer to a question about timing is the deadline ("We have a year"); a date alone in answer
    # to one may only say when nothing will happen ("Nothing changes before next quarter").
    answered = spans and bool(_ASKS["timeline"].search(question))
    due_in = Reading.DUE_IN in readings and bool(_DUE_IN.search(text))
    own_span = (scenario is not None and Reading.SCENARIO_DEADLINE in readings
                and _says_the_deadline(text, question, scenario))
    if ((_TIMELINE.search(text) or due) and (dated or (due and spans))) or answered or due_in or own_span:
        given.append("timeline")
    return given


def _says_the_deadline(text: str, question: str, scenario: ScenarioFacts) -> bool:
    """Whether the text names a span of the scenario's own timeline ("inside eight weeks" against "a pilot within 8
    weeks") that the question did not, outside a sentence about the past. A month alone may date anything."""
    now = " ".join(sentence for sentence in _sentences(text) if not _TOLD_IN_THE_PAST.search(sentence))
    spans = set(scenario_facts.spans_in_weeks(now)) - set(scenario_facts.spans_in_weeks(question))
    return any(span in scenario_facts.spans_in_weeks(scenario.decision_timeline) for span in spans)


def budget_figures(text: str, question: str = "", readings: frozenset[Reading] = DEFAULT_RULES.readings,
                   disclosed: bool = False, per_weeks: float | None = None) -> list[tuple[float, float]]:
    """The sums of money a persona turn gives as its budget, in answer to the candidate's ``question``. Reading what
    each amount counts, a sum is the budget when a word of the turn or the question speaks of money, but not when it
    counts things ("300000 accounts"), is the whole a part is taken of ("a tenth of 40000"), sorts things ("renewals
    over 20000"), or answers a "how much", "how many" or "what does it cost" about something else, unless its
    sentence names what the persona could pay; a bare number given for money is in thousands. A figure the
    question named is left out (said back, it gives nothing), unless it is spoken of as money or approved (agreed to,
    it is the persona's); read as ``disclosed`` (what the turn gives away), it is left out always, and so is a sum in a
    sentence about the past (what happened, not what the persona could pay). Given the weeks ``per_weeks`` the
    scenario's budget is for, a sum for another period is brought to that one ("fifteen thousand a week" is about
    sixty-five thousand a month)."""
    if not readings & {Reading.WHAT_IT_COUNTS, Reading.UNSCALED}:
        return scenario_facts.money(text) if _BUDGET_WORDS.search(text) else []
    counting = Reading.WHAT_IT_COUNTS in readings
    # "How many seats do you pay for?" asks for a count, not a sum.
    pay_asked = "?" in question and bool(_ASKS["budget"].search(question)
                                         or (counting and _ASKS_PAY.search(question))) and not (
        counting and _HOW_MANY.search(question))
    # A sum agreed to ("A hundred and twenty a year is fine, I'll get it approved") is one the persona would pay.
    approved = counting and bool(_CAP.search(text))
    spoken_of = bool(_BUDGET_WORDS.search(text)) or (counting and pay_asked) or approved
    other_amount_asked = counting and not pay_asked and bool(_AMOUNT.asks.search(question)
                                                             or _HOW_MUCH.search(question))
    echoed = ([amount.figure for amount in scenario_facts.amounts(question)]
              if Reading.ECHOED in readings and (disclosed or not (_PAYING.search(question) or _CAP.search(text)))
              else [])
    figures = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        paying = bool(_PAYING.search(sentence)) or approved
        if counting and sentence.rstrip().endswith("?"):
            continue  # a sum the persona asks about is not one it gives
        if disclosed and Reading.PAST_SUM in readings and _PAST_SUM.search(sentence) and not _CAN_PAY.search(sentence):
            continue
        for amount in scenario_facts.amounts(sentence):
            if amount.figure in echoed:
                continue
            period = scenario_facts.period_in_weeks(amount.after) if per_weeks else None
            scale = per_weeks / period if per_weeks and period else 1.0
            if counting and (_COUNTS_THINGS.match(amount.after) or _PART_OF.search(amount.before)
                             or _DIFFERENCE.match(amount.after)
                             or (_THRESHOLD.search(amount.before) and not _CAP.search(sentence))
                             or _OPERAND_BEFORE.search(amount.before) or _OPERAND_AFTER.match(amount.after)
                             or (Reading.RATE in readings and _PER.search(amount.before))
                             or (other_amount_asked and not paying)):
                continue
            if amount.money_like and amount.figure[1] >= 100 and spoken_of:
                figures.append((amount.figure[0] * scale, amount.figure[1] * scale))
            elif (Reading.UNSCALED in readings and not amount.money_like and amount.figure[1] >= 10
                  and (pay_asked or paying)):
                figures.append((amount.figure[0] * 1000 * scale, amount.figure[1] * 1000 * scale))
    return figures


def _earned(fact: str, before: Sequence[str], profile: PersonaProfile, rules: AuditRules) -> bool:
    """Whether the candidate asked for the fact (pay in other words too, reading what amounts count); from the
    guarded difficulty, after asking something else first."""
    asking = [index for index, said in enumerate(before) if _ASKS[fact].search(said)
              or (fact == "budget" and Reading.WHAT_IT_COUNTS in rules.readings and _ASKS_PAY.search(said))
              or (fact == "timeline" and Reading.TIMING_ASKED in rules.readings and _ASKS_TIMING.search(said))]
    if not asking:
        return False
    if profile.difficulty < rules.guarded_difficulty:
        return True
    # Asked again after a question about the problem, or after answering one of the persona's objections, it is
    # earned, whatever was asked first.
    return any(("?" in said and not any(pattern.search(said) for pattern in _ASKS.values()))
               or (Reading.OBJECTION_ANSWERED in rules.readings and _voices_objection(said, profile))
               for said in before[:asking[-1]])


def _raises_objection(text: str, profile: PersonaProfile, echoed: str = "",
                      readings: frozenset[Reading] = frozenset()) -> bool:
    return _objects(text, profile, echoed, readings) or text.rstrip().endswith("?")


def _objects(text: str, profile: PersonaProfile, echoed: str = "", readings: frozenset[Reading] = frozenset()) -> bool:
    """Doubt, a condition, or one of the persona's own objection patterns (two of its content words, besides any it
    says back from ``echoed``, what the candidate just said)."""
    return _doubts(text, echoed, readings) or _voices_objection(text, profile, echoed)


def _voices_objection(text: str, profile: PersonaProfile, echoed: str = "") -> bool:
    """Whether the turn says one of the persona's objection patterns (two of its content words, besides any said
    back from ``echoed``)."""
    spoken = _content_stems(text) - _content_stems(echoed)
    return any(len(spoken & _content_stems(pattern)) >= 2 for pattern in profile.objection_patterns)


def _doubts(text: str, echoed: str = "", readings: frozenset[Reading] = frozenset()) -> bool:
    """Whether the turn has a word of doubt, besides any the candidate said first ("isn't a risk" ... "low risk") and,
    reading WORRY_DISMISSED, any worry it names as none or as dealt with ("I'll note it as no risk")."""
    if Reading.WORRY_DISMISSED in readings:
        text = _WORRY_DISMISSED.sub(" ", text)
    return any(doubt.casefold() not in echoed.casefold() for doubt in _matches(_PUSHBACK, text))


def _accepts(text: str, readings: frozenset[Reading], echoed: str = "") -> bool:
    """Whether a turn accepts what it answers: it opens with agreement or, reading clauses, says it will do or
    praises it in a clause of its own, with no doubt of its own (a worry it names as settled is none)."""
    verdicts = [pattern for reading, pattern in ((Reading.ACCEPTING_CLAUSE, _ACCEPTING), (Reading.PRAISE, _PRAISE),
                                                 (Reading.APPROVAL, _APPROVAL)) if reading in readings]
    if Reading.AGREED_AFTER_ECHO in readings and echoed and not _doubts(text, echoed, readings) and (
            any(_AGREEMENT.search(clause.strip()) for clause in re.split(r"[,.;:!]", text)[1:])
            or _complies(text, echoed)):
        return True
    return bool(_AGREEMENT.search(text.lstrip())
                or (any(pattern.search(text) for pattern in verdicts)
                    and (not _doubts(text, echoed, readings) or _settles(text, readings))))


def _takes_as_read(text: str, claim: str, readings: frozenset[Reading]) -> bool:
    """Whether a turn takes a claim (what the candidate said, asking nothing) as read: with no doubt, condition or
    question of its own, it draws a conclusion from it, or opens by saying it back and goes on."""
    if not claim or "?" in claim or "?" in text or _ADVERSATIVE.search(text) or _doubts(text, claim, readings):
        return False
    if any(_CONCLUSION.search(sentence) for sentence in _sentences(text)):
        return True
    opening, *rest = (clause for clause in re.split(r"[,.;:!]", text) if clause.strip())
    said_back = _content_stems(opening) - _GREETING_STEMS
    return bool(rest) and bool(said_back) and said_back <= _content_stems(claim)


def _complies(text: str, proposal: str) -> bool:
    """Whether a short turn does at once what the candidate proposes: it opens with the proposal's verb ("Then pay
    it." to "we should just pay it"), or grants it ("Please do.")."""
    words_said = _tokens(text)
    if not words_said or len(words_said) > COMPLYING_WORDS or "?" in text:
        return False
    verb = words_said[1] if words_said[0] in ("then", "so", "just") and len(words_said) > 1 else words_said[0]
    proposed = rf"(?:should|could|can|would|will|shall|'d|'ll|let's|to) (?:\w+ )?{re.escape(verb)}\b"
    return verb in ("please", "go") or bool(re.search(proposed, proposal, re.IGNORECASE))


def _settles(text: str, readings: frozenset[Reading]) -> bool:
    """Whether a turn that accepts names its worries as settled: no "but", "unless" or question turns it against
    what it accepts ("Great to hear, that was my main worry.")."""
    if Reading.SETTLED_CONCERN not in readings or "?" in text or _ADVERSATIVE.search(text):
        return False
    verdicts = (_ACCEPTING, _PRAISE, _APPROVAL)
    return bool(_AGREEMENT.search(text.lstrip()) or any(pattern.search(text) for pattern in verdicts))


def _pitched(said: str, acknowledgements: bool) -> bool:
    """Whether the candidate claims or proposes something: a statement or an offer, besides any apology or
    acknowledgement ("Sorry. I am listening." claims nothing)."""
    claims = " ".join(sentence for sentence in _sentences(said)
                      if not (acknowledgements and _ACKNOWLEDGEMENT.match(sentence)))
    return bool(claims) and ("?" not in claims or bool(_PROPOSAL.search(claims)))


def _no_resistance(audit: _Audit) -> int:
    """From RESISTING_DIFFICULTY, every acceptance of the candidate's claims and proposals without a doubt or a
    question is flagged, unless the persona raised one of its objections before it (or, without OBJECTED_BEFORE,
    anywhere in the call); reading DOUBT_TO_A_CLAIM, a doubt in answer to a question raises none. A question of its
    own is not an objection, nor are the candidate's words said back. A claim said back in contempt (flagged hostile
    before this runs) is resisted, not taken as read."""
    profile = audit.profile
    if profile.difficulty < audit.rules.resisting_difficulty:
        return 0
    objecting = _objects if audit.reads(Reading.OWN_QUESTION) else _raises_objection
    acknowledgements = audit.reads(Reading.ACKNOWLEDGEMENT)
    asked = audit.asked()
    raised = [(_voices_objection(text, profile, echoed)
               if _settles(text, audit.rules.readings)
               or (audit.reads(Reading.DOUBT_TO_A_CLAIM) and not _pitched(said, acknowledgements))
               else objecting(text, profile, echoed, audit.rules.readings))
              for text, said, echoed in ((text, before[-1] if before else "",
                                          before[-1] if before and audit.reads(Reading.ECHO) else "")
                                         for text, before in zip(audit.texts, asked, strict=True))]
    if not audit.reads(Reading.OBJECTED_BEFORE) and any(raised):
        return 0
    found = 0
    for index, ((turn, text), before) in enumerate(zip(audit.spoken(), asked, strict=True)):
        said = before[-1] if before else ""
        if (not any(raised[:index + 1]) and _pitched(said, acknowledgements)
                and (_accepts(text, audit.rules.readings, said if audit.reads(Reading.ECHO) else "")
                     or (audit.reads(Reading.CONCLUDED) and _takes_as_read(text, said, audit.rules.readings)
                         and not _flagged(audit, turn, FlagReason.HOSTILITY)))
                and not text.rstrip().endswith("?")):
            found += 1
            audit.flag(turn, text, FlagReason.NO_RESISTANCE,
                       f"Accepts the candidate's claim with none of its objections (difficulty {profile.difficulty})",
                       1)
    if found:
        patterns = "; ".join(profile.objection_patterns[:3])
        audit.recommendations.append(NO_RESISTANCE_FIX + (f" ({patterns})." if patterns else "."))
    return found


def _flagged(audit: _Audit, turn: Turn, reason: FlagReason) -> bool:
    return any(flag.quote.sequence == turn.sequence and flag.quote.reason == reason for flag in audit.flags)


class _Repeat(NamedTuple):
    """What a persona turn says again of an earlier one (its index): its words, or else its point in other words."""

    words: int | None
    point: int | None

    @property
    def earlier(self) -> int | None:
        return self.words if self.words is not None else self.point


def _repeats(audit: _Audit) -> list[_Repeat]:
    """For each persona turn, the earlier persona turn it says again, word for word or nearly, or in other words."""
    seen: list[list[str]] = []
    found: list[_Repeat] = []
    short = audit.reads(Reading.SHORT_SAID_AGAIN)
    for text in audit.texts:
        tokens = _tokens(text)
        # A short line is said again only word for word, and only when it says more than a yes, a no or an okay.
        again = next((index for index, earlier in enumerate(seen)
                      if (min(len(earlier), len(tokens)) >= REPEATED_MIN_WORDS and (
                          difflib.SequenceMatcher(None, earlier, tokens).ratio() >= REPEATED_RATIO
                          or _contains(tokens, earlier) or _contains(earlier, tokens)))
                      or (short and tokens == earlier and not set(tokens) <= _BARE_REPLIES)), None)
        point = (_same_point(text, audit.texts[:len(seen)])
                 if again is None and audit.reads(Reading.SAME_POINT) else None)
        found.append(_Repeat(again, point))
        seen.append(tokens)
    return found


_NUMBER_STEMS = frozenset(word[:5] for word in (
    "one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty hundred "
    "thousand million half quarter").split())


def _same_point(text: str, earlier_texts: Sequence[str]) -> int | None:
    """The earlier turn whose point ``text`` makes again in other words, the one it shares most with (its index)."""
    stems = _content_stems(text) - _NUMBER_STEMS
    best, shared_most = None, SAME_POINT_MIN_SHARED - 1
    for index, earlier in enumerate(earlier_texts):
        earlier_stems = _content_stems(earlier) - _NUMBER_STEMS
        shared = len(stems & earlier_stems)
        if shared > shared_most and shared >= SAME_POINT_MIN_SHARE * min(len(stems), len(earlier_stems)):
            best, shared_most = index, shared
    return best


def _repetition(audit: _Audit) -> int:
    """A turn that says again, word for word or nearly, what an earlier persona turn said."""
    found = 0
    for (turn, text), repeat in zip(audit.spoken(), audit.repeats, strict=True):
        if (again := repeat.earlier) is not None:
            found += 1
            audit.flag(turn, text, FlagReason.REPETITION, f"Says again: '{' '.join(_tokens(audit.texts[again]))}'",
                       words(text))
    if found:
        audit.recommendations.append(REPETITION_FIX)
    return found


def _unresponsive(audit: _Audit) -> int:
    """An answer to a question that is about something else. Declining to answer, or not knowing, answers anything;
    an earlier answer said again answers the question it was given to, not another; an answer to "when", "who" or
    "how much" gives a time (one to come, unless the question is about the past), a person or an amount; an answer
    to any other question is about the call (a word of what the candidate said, of the scenario, of the persona's
    objections or of business, a figure), points back at what was asked, or gives the reason a "why" asks for."""
    topic = (_content_stems(" ".join(turn.text for turn in audit.ordered if turn.role == Role.USER))
             | _BUSINESS_STEMS | _content_stems(" ".join(_facts_text(audit.profile))))
    asked = audit.asked()
    found = 0
    for (turn, text), n, before, (again, point_again) in zip(audit.spoken(), audit.counts, asked, audit.repeats,
                                                             strict=True):
        question = before[-1] if before else ""
        opening = _sentences(text)[0] if text.strip() else ""
        chatting = ((audit.reads(Reading.SMALL_TALK) and bool(_SMALL_TALK.search(opening)))
                    or (audit.reads(Reading.DIGRESSION) and "?" in question
                        and _digresses(text, question, audit.profile)))
        answered_before = (asked[again][-1] if audit.reads(Reading.ANSWER_SAID_AGAIN) and again is not None
                           and asked[again] else "")
        asked_again = audit.reads(Reading.QUESTION_SAID_AGAIN) and bool(answered_before)
        short_again = audit.reads(Reading.SHORT_SAID_AGAIN) and bool(answered_before)
        if "?" in question and audit.reads(Reading.BREAK_FOR_ANSWER) and _in_place_of_an_answer(audit, text):
            found += 1
            audit.flag(turn, text, FlagReason.UNRESPONSIVE,
                       f"Steps out of character instead of answering '{question}'", 1)
            continue
        if ("?" not in question or (n < audit.rules.responsive_min_words and not short_again)
                or ("?" in text and not (chatting or asked_again))
                or (audit.reads(Reading.DECLINING) and _DECLINES.search(text))
                or (audit.reads(Reading.YES_OR_NO) and (_DENIES.match(opening) or (
                    _YES_OR_NO_QUESTION.search(_sentences(question)[-1]) and _YES_OR_NO.search(opening))))):
            continue  # a counter-question, a refusal or a yes or no is an answer or pushback, not a new subject
        said = f"{text} {scenario_facts.digits(text)}"
        if audit.reads(Reading.TIME_TO_COME) and not _ASKED_ABOUT_THE_PAST.search(question):
            said = _PAST_TIME.sub("", said)
        kinds = [kind for kind in _ANSWER_KINDS
                 if (kind.reading is None or audit.reads(kind.reading)) and kind.asks.search(question)]
        if answered_before and not _same_question(answered_before, question):
            why = f"Says again its answer to '{answered_before}'"
        elif (point_again is not None and not _content_stems(text) & _content_stems(question)
              and not (asked[point_again] and _same_question(asked[point_again][-1], question))):
            # Its earlier point made again in other words answers what was asked only if it takes up a word of it, or
            # if the same thing was asked again.
            why = f"Makes again its point '{audit.texts[point_again]}'"
        elif chatting:
            why = "Small talk or an anecdote"
        elif kinds and not (any(kind.gives.search(said) for kind in kinds) or (
                _PERSON in kinds and audit.reads(Reading.NAMED) and _NAMED.match(text.strip()))):
            why = "Gives nothing of what was asked"
        elif kinds or _about_the_call(audit, text, question, topic):
            continue
        else:
            why = "Nothing in it is about the call"
        found += 1
        audit.flag(turn, text, FlagReason.UNRESPONSIVE, f"{why}, in answer to '{question}'", 1)
    if found:
        audit.recommendations.append(UNRESPONSIVE_FIX)
    return found


def _in_place_of_an_answer(audit: _Audit, text: str) -> bool:
    """Whether a turn steps out of character in place of an answer: it opens out of character and is out of it in at
    least half its sentences (a stage direction in brackets is one), so no answer in character is left in it."""
    units = [unit for unit in re.split(r"(\([^()]*\)|\[[^\[\]]*\])", text) if unit.strip()]
    sentences = [sentence for unit in units
                 for sentence in ([unit] if unit.startswith(("(", "[")) else _sentences(unit)) if sentence.strip()]
    broken = [bool(_break_hits(audit, sentence)) for sentence in sentences]
    return bool(broken) and broken[0] and 2 * sum(broken) >= len(broken)


def _digresses(text: str, question: str, profile: PersonaProfile) -> bool:
    """Whether a turn is an aside: marked as one ("by the way", "did I mention"), or a story of the persona's own past
    that shares no word with a question about something else (not about the past) and objects to nothing ("We tried
    two tools already" is pushback)."""
    opening = _sentences(text)[0]
    if _ASIDE.search(opening):
        return True
    return ("?" not in text and bool(_PAST_STORY.match(opening)) and not _IN_THE_PAST.search(question)
            and not _content_stems(text) & _content_stems(question) and not _DECLINES.search(text)
            and not _objects(text, profile))


def _about_the_call(audit: _Audit, text: str, question: str, topic: frozenset[str]) -> bool:
    return bool(_content_stems(text) & topic or re.search(r"\d", scenario_facts.digits(text))
                or (audit.reads(Reading.ELLIPTICAL) and _elliptical(_sentences(text)[0]))
                or (audit.reads(Reading.POINTING_BACK) and _REFERS_BACK.search(_FIRST_CLAUSE.split(text, 1)[0]))
                or (audit.reads(Reading.REASON) and _WHY.search(question) and _REASON.search(text)))


def _elliptical(sentence: str) -> bool:
    """Whether a sentence has neither subject nor verb of its own ("Referral codes."), an exclamation aside."""
    return not sentence.endswith("!") and not _CLAUSE_SIGNS.search(_RELATIVE.sub("", sentence))


def _same_question(first: str, second: str) -> bool:
    """Whether two of the candidate's turns ask the same thing: most of their content words are shared."""
    first_stems, second_stems = _content_stems(first), _content_stems(second)
    return bool(first_stems and second_stems) and len(first_stems & second_stems) >= SAME_QUESTION_SHARE * len(
        first_stems | second_stems)


# "We are" saying what the company is ("we're a retailer", "we're about 150"), not what it is doing ("we're growing",
# "we're asking"): that says nothing of its size or its business.
_WE_ARE = r"we(?:'re| are)(?! \w+ing\b)"
# What a date in a call is the date of, when it is one the scenario's deadline rules.
_TOLD_IN_THE_PAST = _phrases(r"was", r"were", r"had", r"did", r"ago", r"last (?:week|month|quarter|year|time)",
                             r"renewed", r"used to", r"happened", r"went", r"been")
_ASKS_OF_A_TEAM = _phrases(r"(?:your|the|that|this) (?:own )?(?:team|squad|department|group)")
_ASKS_HOW_LONG_IT_TOOK = _phrases(r"how long did", r"how long (?:was|were|had)", r"what did(?: [\w-]+){1,4} take",
                                  r"took")
_DATED_EVENT = re.compile(r"renew|deadline|decid|decision|live|contract|sign", re.IGNORECASE)
# The words of a timeline that say when, not what: what is left names the scenario's events ("fiscal year-end").
_WHEN_STEMS = frozenset(word[:5] for word in (
    *scenario_facts.MONTHS, *"weeks months quarter year days end before after within until needed must".split()))


def _contradictions(audit: _Audit) -> int:
    """A budget, deadline, company size or industry that the scenario's facts rule out."""
    facts = audit.profile.scenario
    budget, headcount, deadline, industry = (facts.budget, facts.headcount, facts.timeline_quarters,
                                             facts.industry_groups)
    events = _content_stems(facts.decision_timeline) - _WHEN_STEMS
    found = 0
    for (turn, text), before in zip(audit.spoken(), audit.asked(), strict=True):
        wrong = []
        question = before[-1] if before else ""
        figures = budget_figures(text, question, audit.rules.readings, per_weeks=(
            facts.budget_period_weeks if audit.reads(Reading.PERIOD) else None))
        margin = audit.rules.range_margin_percent / 100
        if budget and figures and not any(scenario_facts.overlaps(figure, budget, margin) for figure in figures):
            wrong.append(f"budget (scenario: {facts.budget_range})")
        sized = (re.search(rf"\b(?:{_WE_ARE}|of us|company|employ\w*|headcount)\b|how (?:big|large|many people)",
                           f"{text} {question}", re.IGNORECASE)
                 and not _ASKS_OF_A_TEAM.search(question))
        # People counted well beyond the company's size contradict it whatever they are counted as, and beside any
        # count within it: no part of a company outnumbers it. Fewer may be a team, or a crowd met elsewhere, so they
        # are read as its size only when the turn speaks of it, and not in answer to a question about a team.
        sizes = [size for size in scenario_facts.headcounts(text)
                 if sized or (headcount and not scenario_facts.overlaps(size, (0, headcount[1])))]
        if audit.reads(Reading.EVERYONE):
            sizes += scenario_facts.everyone(text)
        if sized and audit.reads(Reading.WHAT_IT_COUNTS) and _ASKS_HEADCOUNT.search(question):
            sizes += [amount.figure for amount in scenario_facts.amounts(text)
                      if not _COUNTS_THINGS.match(amount.after)]  # "About 8000 across our offices"
        if headcount and sizes and (not any(scenario_facts.overlaps(size, headcount, margin) for size in sizes)
                                    or any(not scenario_facts.overlaps(size, (0, headcount[1])) for size in sizes)):
            wrong.append(f"size (scenario: {facts.company_size})")
        timed = (_DATED_EVENT.search(text)
                 or (audit.reads(Reading.TIMING_ASKED) and (_ASKS["timeline"].search(question)
                                                             or _ASKS_TIMING.search(question))))
        # A date for a renewal, a deadline, a decision or a go-live, the persona's own or one it agrees to.
        agreed = (audit.reads(Reading.DATE_AGREED) and _accepts(text, audit.rules.readings, question)
                  and _DATED_EVENT.search(question))
        # A date or a span in a sentence about the past says when something happened, not when it is due; so does
        # the first sentence of an answer to how long something took ("What did the audit take?" "Nine months.").
        sentences = _sentences(text)[1:] if _ASKS_HOW_LONG_IT_TOOK.search(question) else _sentences(text)
        due = (" ".join(sentence for sentence in sentences if not _TOLD_IN_THE_PAST.search(sentence))
               if audit.reads(Reading.TOLD_IN_THE_PAST) else text)
        # A month or a quarter for an event the scenario's timeline names is a date for its deadline.
        event = audit.reads(Reading.SCENARIO_EVENT) and _content_stems(f"{text} {question}") & events
        dated = scenario_facts.quarters(due) if timed or agreed or event else set()
        weeks = facts.timeline_weeks if audit.reads(Reading.SPAN) else None
        spans = scenario_facts.spans_in_weeks(due) if weeks and (timed or _ASKS["timeline"].search(question)) else []
        unhurried = (audit.reads(Reading.NO_DEADLINE) and facts.decision_timeline and _NO_DEADLINE.search(text)
                     and (timed or _ASKS["timeline"].search(question)))
        if ((deadline and dated and not dated & deadline) or unhurried
                or (weeks and spans and not any(scenario_facts.overlaps((span, span), weeks) for span in spans))):
            wrong.append(f"timeline (scenario: {facts.decision_timeline})")
        # An app or a platform of the persona's own says how it delivers, not what business it is in.
        named = (scenario_facts.industries(text) if _SAYS_WHAT_WE_DO.search(text) or _ASKS_WHAT_WE_DO.search(question)
                 else scenario_facts.industries(" ".join(_OURS.findall(text))) - {"software"}
                 if audit.reads(Reading.OURS) else set())
        if industry and named and _other_industry(named, industry):
            wrong.append(f"industry (scenario: {facts.industry})")
        if wrong:
            found += 1
            audit.flag(turn, text, FlagReason.CONTRADICTS_SCENARIO, "Contradicts the scenario's " + ", ".join(wrong),
                       len(wrong))
    if found:
        audit.recommendations.append(CONTRADICTS_SCENARIO_FIX)
    return found


def _other_industry(named: set[str], scenario: set[str]) -> bool:
    """Whether the industries a turn names are not the scenario's. Software is how a business delivers, not what it
    does: a turn naming another business's software ("booking software for dental clinics") contradicts a scenario
    whose business is another ("logistics software"), though both say software."""
    if not named & scenario:
        return True
    said, kept = named - {"software"}, scenario - {"software"}
    return bool(said and kept and not said & kept)


# The company says what it is or does: "we're a bank", "our business", "we build scheduling software", "a brokerage
# like ours", "all we've ever made".
_SAYS_WHAT_WE_DO = _phrases(_WE_ARE, r"our (?:company|business)",
                            r"we (?:\w+ly )?(?:run|make|sell|own|operate|build|provide|develop|serve|design|ship|offer|"
                            r"manufacture)s?", r"like ours", r"this company",
                            r"we(?:'ve| have) (?:ever|always) (?:made|built|sold)")
# Asked what the company makes or does, or what its products are.
_ASKS_WHAT_WE_DO = _phrases(r"what (?:kind of |sort of )?(?:products?|business|industry)",
                            r"what do(?:es)? (?:you|your \w+|the \w+) (?:do|make|sell|build)")
# What the persona calls its own ("our cosmetics line", "our grocery delivery app"): the words after "our".
_OURS = re.compile(r"\bour((?: [\w-]+){1,3})", re.IGNORECASE)


# Contempt each reading finds, and whether it reads sentence by sentence (its patterns anchor on a sentence's start or
# span one) or the whole turn.
_CONTEMPT_READINGS = ((Reading.CONTEMPT, _CONTEMPT, True), (Reading.WORTH_VERDICT, _WORTH_VERDICT, False),
                      (Reading.CHARACTERISATION, _CHARACTERISATION, True), (Reading.COMPARISON, _COMPARISON, True))


def _hostility(audit: _Audit) -> int:
    """Insults and contempt for the candidate: no trait allows them."""
    found = 0
    for turn, text in audit.spoken():
        hits = _matches(_HOSTILE, text)
        sentences = _sentences(text)
        for reading, pattern, by_sentence in _CONTEMPT_READINGS:
            if audit.reads(reading):
                hits += [hit for part in (sentences if by_sentence else (text,)) for hit in _matches(pattern, part)]
        if hits:
            found += 1
            audit.flag(turn, text, FlagReason.HOSTILITY, "Insults the candidate: " + ", ".join(f"'{hit}'"
                                                                                             for hit in hits),
                       len(hits))
    if found:
        audit.recommendations.append(HOSTILITY_FIX)
    return found


# What the fitted classifiers read in a turn besides the rules' flags: its words, stemmed, so "insulting" and
# "insults" are one.
_STEMMER = snowballstemmer.stemmer("english")
_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself|you're|you've|you'd|you'll)\b", re.IGNORECASE)
_NAMED_KINDS = (("when", _TIME), ("who", _PERSON), ("amount", _AMOUNT))
_LENGTHS = ((3, "1-3"), (8, "4-8"), (20, "9-20"), (40, "21-40"))
# The fix each flaw calls for, when its classifier flags what the rules did not.
_FITTED_FIXES = {FlagReason.EARLY_DISCLOSURE: EARLY_DISCLOSURE_FIX, FlagReason.NO_RESISTANCE: NO_RESISTANCE_FIX,
                 FlagReason.UNRESPONSIVE: UNRESPONSIVE_FIX, FlagReason.REPETITION: REPETITION_FIX,
                 FlagReason.CONTRADICTS_SCENARIO: CONTRADICTS_SCENARIO_FIX, FlagReason.HOSTILITY: HOSTILITY_FIX,
                 FlagReason.MINIMAL_ANSWER: MINIMAL_ANSWER_FIX, FlagReason.OUT_OF_CHARACTER: (
                     "Stay in character: never mention being an AI, your instructions or your difficulty, "
                     "and never offer to help.")}


def turn_features(turns: Iterable[Turn], profile: PersonaProfile,
                  rules: AuditRules = DEFAULT_RULES) -> dict[int, frozenset[str]]:
    """What the fitted classifiers read in each persona turn of a call, by sequence: the rules' flags on it and their
    readings, its words, and the candidate's question against it."""
    audit = _rules_audit(turns, profile, rules)
    _apply_rules(audit)
    return {turn.sequence: features for turn, features in zip(audit.persona, _features(audit), strict=True)}


def _fitted_flags(audit: _Audit, classifiers: Mapping[str, FlawClassifier]) -> Counter[FlagReason]:
    """Flags each turn its classifiers find a flaw in that the rules did not, and drops the rules' flags that a
    classifier deciding their flaw does not confirm; per flaw, the flags added less those dropped."""
    found: Counter[FlagReason] = Counter()
    if not classifiers:
        return found
    dropped: set[tuple[int, FlagReason]] = set()
    for turn, text, features in zip(audit.persona, audit.texts, _features(audit), strict=True):
        for flaw, classifier in classifiers.items():
            reason, flags = FlagReason(flaw), classifier.flags(features)
            if f"rule:{reason}" in features:
                if classifier.decides and not flags:
                    dropped.add((turn.sequence, reason))
                    found[reason] -= 1
            elif flags:
                found[reason] += 1
                audit.flag(turn, text, reason, f"Reads as {reason.replace('_', ' ')} to the classifier fitted on "
                           f"labelled turns ({classifier.probability(features):.2f})", 0)
    if dropped:
        audit.flags = [flag for flag in audit.flags if (flag.quote.sequence, flag.quote.reason) not in dropped]
        gone = {reason for _, reason in dropped} - {flag.quote.reason for flag in audit.flags}
        audit.recommendations = [advice for advice in audit.recommendations
                                 if not any(advice.startswith(_FITTED_FIXES[reason]) for reason in gone)]
    audit.recommendations += [_FITTED_FIXES[reason] for reason, count in found.items() if count > 0]
    return found


def _features(audit: _Audit) -> list[frozenset[str]]:
    flagged: dict[int, set[str]] = {}
    for flag in audit.flags:
        flagged.setdefault(flag.quote.sequence, set()).add(f"rule:{flag.quote.reason}")
    topic = (_content_stems(" ".join(turn.text for turn in audit.ordered if turn.role == Role.USER))
             | _BUSINESS_STEMS | _content_stems(" ".join(_facts_text(audit.profile))))
    each = []
    for index, ((turn, text), n, before) in enumerate(zip(audit.spoken(), audit.counts, audit.asked(), strict=True)):
        question = before[-1] if before else ""
        features = flagged.get(turn.sequence, set()) | _word_features(text) | _question_features(text, question)
        features |= _scenario_features(audit, text, question)
        features |= {f"fact:{fact}" + (":asked" if any(_ASKS[fact].search(said) for said in before) else "")
                     for fact in facts_given(text, question, audit.rules.readings)}
        features |= {f"difficulty:{audit.profile.difficulty}", f"turn:{min(index + 1, 3)}",
                     "length:" + next((name for most, name in _LENGTHS if n <= most), "41+")}
        opening = _sentences(text)[0] if text.strip() else ""
        readings = {"asks": "?" in text, "declines": bool(_DECLINES.search(text)),
                    "small_talk": bool(_SMALL_TALK.search(opening)), "aside": bool(_ASIDE.search(opening)),
                    "past_story": bool(_PAST_STORY.match(opening)),
                    "elliptical": bool(opening) and _elliptical(opening),
                    "accepts": _accepts(text, audit.rules.readings, question),
                    "objects": _objects(text, audit.profile), "breaks": bool(_break_hits(audit, text)),
                    "off_topic": not _content_stems(text) & topic}
        features |= {f"reads:{name}" for name, read in readings.items() if read}
        features |= _topic_features(audit, index, text, topic)
        each.append(frozenset(features))
    return each


def _topic_features(audit: _Audit, index: int, text: str, topic: frozenset[str]) -> set[str]:
    """How much of the turn is about the call: the share of its content words the candidate, the scenario or business
    used, and whether it takes up the persona's own earlier turns or its objections."""
    stems = _content_stems(text)
    if not stems:
        return {"topic:empty"}
    share = len(stems & topic) / len(stems)
    earlier = _content_stems(" ".join(audit.texts[:index]))
    objections = _content_stems(" ".join(audit.profile.objection_patterns))
    features = {"topic:" + ("none" if share == 0 else "low" if share < 0.25 else "half" if share < 0.5 else "most")}
    shared = (("earlier:shared", stems & earlier), ("objection:shared", stems & objections))
    features |= {name for name, words_shared in shared if words_shared}
    return features


def _stems(text: str) -> list[str]:
    return [str(stem) for stem in _STEMMER.stemWords(_tokens(text))]


def _word_features(text: str) -> set[str]:
    """Its words and pairs of words, stemmed, and the words of its sentences that speak to the candidate."""
    stems = _stems(text)
    features = {f"w:{stem}" for stem in stems} | {f"b:{first}_{second}" for first, second in itertools.pairwise(stems)}
    addressed = [sentence for sentence in _sentences(text) if _SECOND_PERSON.search(sentence)]
    if addressed:
        features.add("you")
        features |= {f"you:{stem}" for sentence in addressed for stem in _stems(sentence)}
    return features


def _question_features(text: str, question: str) -> set[str]:
    """What kind of question the turn answers, and whether it takes up its words or gives what it asks for."""
    if "?" not in question:
        return {"question:none"}
    last = _sentences(question)[-1] if _sentences(question) else question
    kinds = {name for name, kind in _NAMED_KINDS if kind.asks.search(question)}
    if _WHY.search(question):
        kinds.add("why")
    if _YES_OR_NO_QUESTION.search(last):
        kinds.add("yes_or_no")
    features = {f"question:{kind}" for kind in kinds or {"open"}}
    said = f"{text} {scenario_facts.digits(text)}"
    features |= {f"gives:{name}" for name, kind in _NAMED_KINDS if name in kinds and kind.gives.search(said)}
    shared = _content_stems(text) & _content_stems(question)
    features.add("overlap:" + ("none" if not shared else "some" if len(shared) < 3 else "much"))
    return features


def _scenario_features(audit: _Audit, text: str, question: str) -> set[str]:
    """The turn's budgets, dates, spans and industries as the rules read them, against the scenario's."""
    facts, features = audit.profile.scenario, set()
    figures = budget_figures(text, question, audit.rules.readings)
    if facts.budget and figures:
        features.add("budget:" + ("within" if any(scenario_facts.overlaps(figure, facts.budget, 0)
                                                  for figure in figures) else "outside"))
    if facts.timeline_quarters and (dated := scenario_facts.quarters(text)):
        features.add("quarter:" + ("within" if dated & facts.timeline_quarters else "outside"))
    if facts.timeline_weeks and (spans := scenario_facts.spans_in_weeks(text)):
        features.add("span:" + ("within" if any(scenario_facts.overlaps((span, span), facts.timeline_weeks)
                                                for span in spans) else "outside"))
    if facts.industry_groups and (named := scenario_facts.industries(text)):
        features.add("industry:" + ("same" if named & facts.industry_groups else "other"))
    if facts.headcount and (sizes := scenario_facts.headcounts(text)):
        features.add("size:" + ("within" if any(scenario_facts.overlaps(size, facts.headcount) for size in sizes)
                                else "outside"))
    return features


def _facts_text(profile: PersonaProfile) -> tuple[str, ...]:
    facts = profile.scenario
    return (facts.budget_range, facts.decision_timeline, facts.company_size, facts.industry,
            *profile.objection_patterns)


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+(?:'\w+)*", normalise(text).casefold())


@functools.lru_cache(maxsize=4096)  # the same turns and objection patterns are read by several checks
def _content_stems(text: str) -> frozenset[str]:
    return frozenset(token[:5] for token in _tokens(text) if token not in _STOPWORDS and not token.isdigit())


def _sentences(text: str) -> list[str]:
    return [sentence.strip() for sentence in re.findall(r"[^.!?]+[.!?]*", text)]


def _contains(tokens: Sequence[str], earlier: Sequence[str]) -> bool:
    """Whether the earlier words appear in order, together, inside these."""
    size = len(earlier)
    return any(list(tokens[start:start + size]) == list(earlier) for start in range(len(tokens) - size + 1))


def _score(value: float) -> int:
    # Rounded half up, then bounded to 1-10.
    return max(1, min(10, math.floor(value + 0.5)))


def candidate_before(turns: Iterable[Turn], sequence: int) -> str:
    """What the candidate said last before the turn ``sequence``, as a quote is kept; "" when nothing."""
    said = [turn for turn in turns if turn.role == Role.USER and turn.sequence < sequence]
    return _excerpt(max(said, key=lambda turn: turn.sequence).text) if said else ""


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 3].rstrip() + "..."


def _matches(pattern: re.Pattern[str], text: str) -> list[str]:
    return list(dict.fromkeys(match.group(0) for match in pattern.finditer(text)))


def _monologues(ordered: Sequence[Turn], limit: float) -> list[tuple[Turn, int, int, str]]:
    """Runs of two or more consecutive persona messages longer than the limit together."""
    runs: list[list[Turn]] = []
    for turn in ordered:
        if turn.role == Role.ASSISTANT and runs and runs[-1][-1].role == Role.ASSISTANT:
            runs[-1].append(turn)
        else:
            runs.append([turn])
    found = []
    for run in runs:
        if run[0].role != Role.ASSISTANT or len(run) < 2:
            continue
        total = sum(words(turn.text) for turn in run)
        if total > limit:
            found.append((run[0], total, len(run), normalise(" ".join(turn.text for turn in run))))
    return found
