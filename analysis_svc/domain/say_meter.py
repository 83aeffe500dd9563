"""The Say Meter: five factors scored 0-100 from conversation measures, weighed by the blueprint's rubric.

Deterministic by construction: only arithmetic on the measures, rounded half up."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from analysis_svc.domain import interviewer_texts
from analysis_svc.domain.coaching import MAX_POINTS
from analysis_svc.domain.conversation import ConversationMetrics, Topic
from analysis_svc.domain.interviewer_texts import InterviewerTexts
from analysis_svc.domain.sales_words import SALES_WORDS, SalesWords
from analysis_svc.domain.tracks import TRACK_RUBRICS, track_rubric
from analysis_svc.domain.tracks.rubric import Tally, TrackFactor, TrackRubric
from calls.job_tracks import Blueprint

RAPPORT = "rapport"
DISCOVERY = "discovery"
OBJECTION_HANDLING = "objection_handling"
VALUE_ARTICULATION = "value_articulation"
CLOSING_MOMENTUM = "closing_momentum"
FACTORS = (RAPPORT, DISCOVERY, OBJECTION_HANDLING, VALUE_ARTICULATION, CLOSING_MOMENTUM)

GREEN_FROM = 80
YELLOW_FROM = 50

# The most of the words a candidate should speak in a discovery conversation; well above it is a gap a coach raises.
MOST_CANDIDATE_TALK = 0.55
# Questions per candidate turn that count as fully curious (the coach's "hardly asking questions").
FULL_QUESTION_RATE = 0.6


@dataclass(frozen=True, slots=True)
class FullMarks:
    """Where each measure a factor reads counts in full: counted up to what a good call needs, not per turn, so a
    short good call is not capped."""

    # Words per buyer turn at which the buyer counts as opening up: a buyer given room answers at length, one who is
    # not given it, or has checked out, answers in a few words. It reads the buyer's side, which the seller's share of
    # the talk does not: a short call can open a buyer up as well as a long one.
    buyer_words: float = 20
    # Listening: acknowledgements, playbacks and follow-ups that make a buyer feel heard.
    listening: int = 3
    # Discovery: turns asking about the buyer's situation, open ones among them, and follow-up questions (on what the
    # buyer just said) that show the candidate is digging, not running a checklist.
    buyer_questions: int = 4
    open_questions: int = 3
    followups: int = 3
    # Value: statements tied to the buyer's own words that make a case.
    grounded_value: int = 2


FULL_MARKS = FullMarks()
# Rapport points lost for each time the candidate argues, presses a next step after a no, or talks over the buyer.
DISMISSAL_PENALTY = 15
PUSH_PENALTY = 10
INTERRUPTION_PENALTY = 10
# Value points lost for each feature list recited instead of value; value never tied to the buyer's situation is a
# pitch and scores at most GENERIC_VALUE_CAP.
FEATURE_DUMP_PENALTY = 20
GENERIC_VALUE_CAP = 40
# Closing momentum: an agreed step with a day or time, one without, a no taken with grace and the door left open,
# a step only proposed, none, pressed after a no.
CLOSE_DATED, CLOSE_AGREED, CLOSE_HONEST, CLOSE_PROPOSED, CLOSE_NONE, CLOSE_PRESSED = 100, 80, 60, 45, 20, 5


class Band(StrEnum):
    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"


# The sales factors' weights in percent, summing to 100: the sales track is scored on them by either engine
# (``rubric_of``); every other track has a rubric of its own (``tracks``).
RUBRICS: dict[Blueprint, dict[str, int]] = {
    # Fitted on all 920 English sales calls: the fit chose equal weights (devtools.fit_say_meter --part all_english,
    # docs/say_meter.md).
    Blueprint.SALES: {RAPPORT: 20, DISCOVERY: 20, OBJECTION_HANDLING: 20, VALUE_ARTICULATION: 20, CLOSING_MOMENTUM: 20},
}  # fmt: skip

# What a coach scores on each sales factor, in the words the model engine is asked them in (``rubric_of``); a track's
# own factors say it in their ``TrackFactor.meaning``.
SALES_MEANINGS = {
    RAPPORT: "listening: the persona gets room to talk, the candidate acknowledges, plays back and follows up on what "
             "was said, and never argues, presses on after a no or talks over the persona",
    DISCOVERY: "questions about the persona's situation, open ones and follow-ups on its answers, covering its pain, "
               "budget, timeline, decision process and success criteria",
    OBJECTION_HANDLING: "how the candidate met the persona's hesitations, objections and refusals; when there were "
                        "none, the mean of the other factors",
    VALUE_ARTICULATION: "value built on the persona's own words and numbers; generic claims count for little, feature "
                        "lists against",
    CLOSING_MOMENTUM: "an agreed next step, dated best, or an honest close-out after a no; pressing after a no is "
                      "worst",
}

@dataclass(frozen=True, slots=True)
class SayMeter:
    score: int
    band: Band
    factors: dict[str, int]
    weights: dict[str, int]
    reasoning: str


@dataclass(frozen=True, slots=True)
class Rubric:
    """The factors a reading of a track reports, in order, each with what a coach scores, and their weights."""

    meanings: dict[str, str]
    weights: dict[str, int]
    own: bool  # the track's own rubric (``tracks``); else the sales factors, reweighted for the track


def rubric_of(blueprint: str) -> Rubric:
    """The rubric a reading of the track is scored on: its own where it has one, else the sales factors weighed by
    its ``RUBRICS``."""
    track = track_rubric(blueprint)
    if track is not None:
        return Rubric({factor.name: factor.meaning for factor in track.factors}, dict(track.weights), True)
    return Rubric(dict(SALES_MEANINGS), dict(RUBRICS[Blueprint(blueprint)]), False)


def band_for(score: int) -> Band:
    if score >= GREEN_FROM:
        return Band.GREEN
    return Band.YELLOW if score >= YELLOW_FROM else Band.RED


def factor_scores(metrics: ConversationMetrics, full: FullMarks = FULL_MARKS) -> dict[str, int | None]:
    """Each factor 0-100; objection handling is None (untested) when the buyer never hesitated. ``full`` is where
    each measure counts in full (the fit tools try others)."""
    return {
        RAPPORT: _rapport(metrics, full),
        DISCOVERY: _discovery(metrics, full),
        OBJECTION_HANDLING: _objection_handling(metrics),
        VALUE_ARTICULATION: _value_articulation(metrics, full),
        CLOSING_MOMENTUM: _closing_momentum(metrics),
    }


def shown_rules(metrics: ConversationMetrics) -> dict[str, float]:
    """The sales factors' rules as a reading shows them: an untested one at the mean of the tested."""
    rules = factor_scores(metrics)
    untested_at = statistics.fmean(value for value in rules.values() if value is not None)
    return {name: untested_at if value is None else float(value) for name, value in rules.items()}


def sales_factors(metrics: ConversationMetrics, words: SalesWords = SALES_WORDS) -> dict[str, float | None]:
    """The sales factors of a reading: for a call read in English where the seller has spoken, each factor's rule as
    a reading shows it (``shown_rules``) mixed with what the call's words say of it (``sales_words``; the fit tools try
    others); otherwise the rules' alone."""
    if metrics.sales_terms is None or not metrics.candidate_turns:
        return dict(factor_scores(metrics))
    return dict(words.blend(shown_rules(metrics), metrics.sales_terms))


def weigh(factors: Mapping[str, float | None], weights: dict[str, int]) -> float:
    """The weighted mean of the tested factors: an untested factor's weight goes to the others in proportion, so
    a call where nothing tested it is neither rewarded nor penalised for it."""
    tested = [name for name in weights if factors[name] is not None]
    total_weight = sum(weights[name] for name in tested)
    if not total_weight:
        return 0.0
    return sum(weights[name] * (factors[name] or 0) for name in tested) / total_weight


def score(metrics: ConversationMetrics, blueprint: Blueprint, tally: Tally | None = None,
          texts: InterviewerTexts = interviewer_texts.ENGLISH) -> SayMeter:
    """The reading of a call: on its track's own rubric (``tracks``, from the call's ``tally``) where it has one, else
    on the sales factors weighed by the track's ``RUBRICS``; its reasoning written in ``texts``."""
    track = track_rubric(blueprint)
    if track is not None:
        return _track_score(track, tally or Tally(), texts)
    weights = RUBRICS[Blueprint(blueprint)]
    measured = sales_factors(metrics)
    total = _round(weigh(measured, weights))
    # An untested factor is shown at the score of the rest, which is what it counts for.
    factors = {name: total if value is None else _round(value) for name, value in measured.items()}
    return SayMeter(
        score=total,
        band=band_for(total),
        factors=factors,
        weights=dict(weights),
        reasoning=_reasoning(metrics, factors, weights, texts),
    )


def _track_score(track: TrackRubric, tally: Tally, texts: InterviewerTexts) -> SayMeter:
    factors = track.scores(tally)
    total = _round(weigh(dict(factors), track.weights))
    weakest = min(track.factors, key=lambda factor: _shortfall(track, factors, factor))
    gap = texts.track_gaps[track.blueprint, weakest.name] if factors[weakest.name] < 100 else texts.gaps["keep_it_up"]
    strongest = max(track.factors, key=lambda factor: factors[factor.name] * track.weights[factor.name])
    return SayMeter(score=total, band=band_for(total), factors=factors, weights=dict(track.weights),
                    reasoning=_said(strongest.name, factors[strongest.name], gap, texts))


def _said(strongest: str, strength: int, gap: str, texts: InterviewerTexts) -> str:
    """The reasoning line: the strength, if the strongest factor is one, and the gap a coach raises first."""
    if strength < YELLOW_FROM:
        return texts.templates["no_strength"].format(gap=gap)
    line = texts.templates["strength"].format(factor=texts.factor_names[strongest], gap=gap)
    return line[0].upper() + line[1:]


def _shortfall(track: TrackRubric, factors: dict[str, int], factor: TrackFactor) -> tuple[bool, int]:
    """Orders the gaps as a coach raises them: one raised first that falls short, then the most points lost."""
    short = factors[factor.name] < 100
    return not (factor.raised_first and short), (factors[factor.name] - 100) * track.weights[factor.name]


def ordered_factors(names: Iterable[str]) -> list[str]:
    """Factor names in the order their rubric lists them (the rubric whose factors they are: two tracks may name a
    factor alike), whatever order they were stored in."""
    given = set(names)
    listed = next((rubric.names for rubric in TRACK_RUBRICS.values() if set(rubric.names) == given), FACTORS)
    order = {name: index for index, name in enumerate(listed)}
    return sorted(given, key=lambda name: (order.get(name, len(order)), name))


def _round(value: float) -> int:
    return max(0, min(100, math.floor(value + 0.5)))


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


def _rapport(metrics: ConversationMetrics, full: FullMarks) -> int:
    """Listening and rapport: the buyer gets room to talk and opens up, the seller acknowledges, plays back and
    follows up on what was said, and never argues, presses on after a no or talks over the buyer."""
    if not metrics.candidate_turns:
        return 0
    openness = _clamp(metrics.persona_words_per_turn / full.buyer_words)
    listening = _clamp((metrics.listening_signals + metrics.playbacks + metrics.followup_questions) / full.listening)
    penalty = (DISMISSAL_PENALTY * metrics.dismissals + PUSH_PENALTY * (metrics.pushes + metrics.pushes_after_decline)
               + INTERRUPTION_PENALTY * metrics.interruptions)
    return _round(100 * (0.3 * openness + 0.7 * listening) - penalty)


def _discovery(metrics: ConversationMetrics, full: FullMarks) -> int:
    """Questions about the buyer's situation, open ones, follow-ups on the buyer's answers, and the topics on the
    table; counted up to what a good call needs, not per turn, so a short good call is not capped."""
    if not metrics.candidate_turns:
        return 0
    coverage = len(metrics.topics_covered) / len(Topic)
    asking = _clamp(metrics.buyer_questions / full.buyer_questions)
    openness = _clamp(metrics.open_buyer_questions / full.open_questions)
    # Digging into the buyer's answers is what separates discovery from a questionnaire.
    depth = _clamp(metrics.followup_questions / full.followups)
    return _round(100 * (0.3 * asking + 0.15 * openness + 0.3 * depth + 0.25 * coverage))


def _objection_handling(metrics: ConversationMetrics) -> int | None:
    """How the seller met the buyer's hesitations (``coaching``); None when the buyer never hesitated."""
    if not metrics.hesitations:
        return None
    return _round(100 * metrics.hesitation_points / (MAX_POINTS * metrics.hesitations))


def _value_articulation(metrics: ConversationMetrics, full: FullMarks) -> int:
    """Value built on the buyer's own words and numbers; generic claims count for little, feature lists against."""
    if not metrics.candidate_turns:
        return 0
    grounded = _clamp((metrics.grounded_value + metrics.tailored_value_statements) / full.grounded_value)
    generic = metrics.value_statements - metrics.tailored_value_statements
    claims = _clamp(min(generic, 2) / 4)
    breadth = _clamp(len(metrics.value_themes) / 2)
    value = 100 * (0.6 * grounded + 0.25 * claims + 0.15 * breadth) - FEATURE_DUMP_PENALTY * metrics.feature_dumps
    return _round(value if grounded else min(value, GENERIC_VALUE_CAP))


def _closing_momentum(metrics: ConversationMetrics) -> int:
    """An agreed step (dated best), or an honest close-out when the buyer said no; pressing after a no is worst."""
    pressed = metrics.pushes_after_decline + metrics.pushes
    if metrics.next_step_committed:
        agreed = CLOSE_DATED if metrics.next_step_dated else CLOSE_AGREED
        return _round(agreed - PUSH_PENALTY * 2 * pressed)
    if pressed:
        return CLOSE_PRESSED  # worse than not asking: the buyer said no and heard a pitch
    if metrics.graceful_exits:
        return CLOSE_HONEST
    return CLOSE_PROPOSED if metrics.next_step_proposed else CLOSE_NONE


def _reasoning(metrics: ConversationMetrics, factors: dict[str, int], weights: dict[str, int],
               texts: InterviewerTexts) -> str:
    strongest = max(FACTORS, key=lambda name: (factors[name] * weights[name], -FACTORS.index(name)))
    return _said(strongest, factors[strongest], _main_gap(metrics, weights, texts), texts)


def _open_topics(metrics: ConversationMetrics, weights: dict[str, int]) -> list[Topic]:
    # Budget is a commercial question; technical tracks are not faulted for leaving it open.
    return [topic for topic in metrics.uncovered_topics if topic != Topic.BUDGET or weights[CLOSING_MOMENTUM] >= 10]


Has = Callable[[ConversationMetrics, dict[str, int]], object]  # truthy when the call has the gap
Names = Callable[[ConversationMetrics, dict[str, int], InterviewerTexts], dict[str, str]]  # what its text names


def _nothing(metrics: ConversationMetrics, weights: dict[str, int], texts: InterviewerTexts) -> dict[str, str]:
    return {}


# The gaps a coach would raise, most damaging first: (its text in ``InterviewerTexts.gaps``, whether the call has
# it, what its text names).
_GAPS: tuple[tuple[str, Has, Names], ...] = (
    ("pushed_after_no", lambda m, w: m.pushes_after_decline, _nothing),
    ("argued", lambda m, w: m.dismissals, _nothing),
    ("unanswered_objection", lambda m, w: m.unanswered_objections,
     lambda m, w, t: {"kind": t.objections[m.unanswered_objections[0].kind]}),
    ("talking_too_much", lambda m, w: m.candidate_talk_ratio > MOST_CANDIDATE_TALK + 0.15,
     lambda m, w, t: {"share": f"{m.candidate_talk_ratio:.0%}"}),
    ("few_questions", lambda m, w: m.candidate_question_rate < FULL_QUESTION_RATE / 3, _nothing),
    ("feature_dumps", lambda m, w: m.feature_dumps, _nothing),
    ("no_followups", lambda m, w: m.candidate_questions >= 3 and not m.followup_questions, _nothing),
    ("budget_not_asked", lambda m, w: w[CLOSING_MOMENTUM] >= 15 and Topic.BUDGET in m.uncovered_topics, _nothing),
    ("open_topic", _open_topics, lambda m, w, t: {"topic": t.topics[_open_topics(m, w)[0]]}),
    ("no_next_step", lambda m, w: w[CLOSING_MOMENTUM] >= 10 and not m.next_step_committed, _nothing),
)


def _main_gap(metrics: ConversationMetrics, weights: dict[str, int], texts: InterviewerTexts) -> str:
    """The first gap a coach would raise."""
    for gap, has, names in _GAPS:
        if has(metrics, weights):
            return texts.gaps[gap].format(**names(metrics, weights, texts))
    return texts.gaps["keep_it_up"]
