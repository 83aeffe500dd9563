"""Post-call persona audit: how well the persona played its side of the call.

Only the persona's turns (Role.ASSISTANT) are judged, against the target words per turn for its difficulty and
against its traits: brevity, authenticity, consistency, enthusiasm leak and pacing, each scored 1 to 10 where
10 is best, with the quotes that cost points and concrete prompt-level fixes. Pure text rules and arithmetic,
no I/O: the same transcript and profile always give the same audit.

Shared by the analysis service, which audits real calls, and the learning service, which audits simulated
calls with the same rules.
Maps onto sparring.analysis.v1: PersonaAudit, AuditScores, WordRange, FlaggedQuote and FlagReason."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

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
)  # fmt: skip
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

# Worst first: breaking character costs the most, then leaks, then length, tone and pacing.
_SEVERITY = {
    FlagReason.OUT_OF_CHARACTER: 0,
    FlagReason.ENTHUSIASM_LEAK: 1,
    FlagReason.INCONSISTENT: 2,
    FlagReason.TOO_LONG: 3,
    FlagReason.PACING: 4,
    FlagReason.OTHER: 5,
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
    flags: list[_Flag] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.persona)

    @property
    def average(self) -> float:
        return sum(self.counts) / self.count

    def spoken(self) -> Iterable[tuple[Turn, str]]:
        return zip(self.persona, self.texts, strict=True)

    def flag(self, turn: Turn, text: str, reason: FlagReason, explanation: str, weight: int) -> None:
        self.flags.append(_Flag(FlaggedQuote(turn.sequence, _excerpt(text), reason, explanation), weight))


def audit_persona(turns: Iterable[Turn], profile: PersonaProfile) -> PersonaAudit:
    """Audit the persona's side of a call; raises ValueError when the persona never spoke."""
    ordered = sorted(turns, key=lambda turn: turn.sequence)
    persona = [turn for turn in ordered if turn.role == Role.ASSISTANT]
    if not persona:
        raise ValueError("no persona turns to audit")
    texts = [normalise(turn.text) for turn in persona]
    audit = _Audit(profile, ordered, persona, texts, [words(text) for text in texts],
                   target_words_per_turn(profile.difficulty))
    brevity = _brevity(audit)
    enthusiasm = _enthusiasm(audit)
    authenticity = _authenticity(audit)  # counts the enthusiasm leaks flagged before it
    consistency = _consistency(audit)
    pacing, giving_in = _pacing(audit)
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
        hits = _matches(_BREAKS_CHARACTER, text)
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


def _score(value: float) -> int:
    # Rounded half up, then bounded to 1-10.
    return max(1, min(10, math.floor(value + 0.5)))


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
