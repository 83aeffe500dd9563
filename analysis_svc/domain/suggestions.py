"""Suggestions for the interviewer, each drawn from the call and citing the messages it answers: follow-up questions
built on the buyer's own words, context injections that steer the persona on what the call is about, and a
curveball from the persona's own objections and the scenario, at the call's stage.

Nothing the call has made moot is suggested (a budget curveball once the budget was discussed, another stakeholder
once the decision makers are mapped or on the call), and nothing already made in the session (applied, dismissed
or still open) is made again: a suggestion's label says what it is about, so a label already made is skipped."""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from analysis_svc.domain import interviewer_texts
from analysis_svc.domain.conversation import (
    ENGLISH,
    ConversationMetrics,
    ObjectionKind,
    Phrases,
    Topic,
    TurnTexts,
    ValueTheme,
    content_words,
    objection_kinds,
    turn_text,
)
from analysis_svc.domain.interviewer_texts import InterviewerTexts
from analysis_svc.domain.tracks import track_rubric
from calls.job_tracks import Blueprint
from calls.turns import Role, Turn, normalise, words

# Messages in the call so far at which it moves to the next stage.
MIDDLE_FROM = 12
LATE_FROM = 30
# Candidate words in one run (about half a minute of speech) after which the persona should cut in.
LONG_PITCH_WORDS = 80
# Persona answers longer than this give the candidate too much for free.
VERBOSE_PERSONA_WORDS = 60
MAX_FOLLOWUPS = 2
# A quote from the call is cut to this many characters, at a word; the persona's and the scenario's words (up to
# 20,000 characters each in the persona service) to this many, so a suggestion stays well inside its 2,000.
QUOTE_CHARS = 90
CONTEXT_CHARS = 300
LABEL_CHARS = 100  # the contract's bound on a label
# A buyer turn shorter than this ("ok", "sure") says nothing to build a question on.
MIN_QUOTED_WORDS = 4
# A pain point whose content words the call has said this share of is already on the table.
SAID_SHARE = 0.5


class SuggestionType(StrEnum):
    CONTEXT_INJECTION = "context_injection"
    CURVEBALL = "curveball"
    FOLLOWUP_QUESTION = "followup_question"
    HANDOFF = "handoff"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class CallStage(StrEnum):
    EARLY = "early"
    MIDDLE = "middle"
    LATE = "late"


@dataclass(frozen=True, slots=True)
class Suggestion:
    type: SuggestionType
    text: str
    priority: Priority
    label: str
    cites: tuple[int, ...] = ()  # the sequences of the messages it answers
    switching_rule: str = ""  # the rule that raised a HANDOFF suggestion, "switchingRules/{id}"


@dataclass(frozen=True, slots=True)
class Curveball:
    label: str
    text: str
    moot_once: Topic | None = None  # the topic whose discussion makes it moot
    about: str = ""  # the persona's or the scenario's words it brings up: moot once the call has said them
    probes: str = ""  # the factor of the track's own rubric it puts to the test (``TrackRubric.probes``)


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the persona and the scenario of a call give the curveballs; empty when the call has neither."""

    objection_patterns: tuple[str, ...] = ()
    pain_points: tuple[str, ...] = ()
    budget_range: str = ""
    decision_timeline: str = ""


NO_CONTEXT = CallContext()


def stage_for(message_count: int) -> CallStage:
    if message_count >= LATE_FROM:
        return CallStage.LATE
    return CallStage.MIDDLE if message_count >= MIDDLE_FROM else CallStage.EARLY


_TECHNICAL = {Blueprint.AGENTIC_ENG, Blueprint.FULLSTACK, Blueprint.SECURITY}
# Which uncovered topic matters most for each track, most important first.
_TOPIC_ORDER = {
    "commercial": (Topic.PAIN, Topic.BUDGET, Topic.DECISION_PROCESS, Topic.TIMELINE, Topic.SUCCESS_CRITERIA),
    "technical": (Topic.PAIN, Topic.SUCCESS_CRITERIA, Topic.TIMELINE, Topic.DECISION_PROCESS, Topic.BUDGET),
}
# The topic a persona's objection speaks to: once the call has discussed it, the objection is moot.
_OBJECTION_TOPICS = {ObjectionKind.PRICE: Topic.BUDGET, ObjectionKind.TIMING: Topic.TIMELINE,
                     ObjectionKind.AUTHORITY: Topic.DECISION_PROCESS}
# When a persona's objection of each kind lands best: price and sign-off once there is something to buy.
_OBJECTION_STAGES = {ObjectionKind.PRICE: {CallStage.MIDDLE, CallStage.LATE},
                     ObjectionKind.TIMING: {CallStage.MIDDLE, CallStage.LATE},
                     ObjectionKind.AUTHORITY: {CallStage.LATE}}
# Someone besides the buyer is on the call: a curveball about another stakeholder is moot.
_ANOTHER_STAKEHOLDER_PRESENT = re.compile(
    r"(?<!\w)(?:on the (?:call|line) with (?:me|us)|joining (?:us|me)|(?:is|are) (?:also )?(?:here|on the call)"
    r"|here with me|with me (?:today|on the call)|both of us|the two of us)(?!\w)")

# Each track's curveballs by stage, as the persona raises them: the key of its label and text (``interviewer_texts``)
# and the topic whose discussion makes it moot.
_CURVEBALL_PLAN: dict[Blueprint, dict[CallStage, tuple[tuple[str, Topic | None], ...]]] = {
    Blueprint.SALES: {
        CallStage.EARLY: (
            ("short_on_time", None),
            ("skeptical_opener", None),
            ("wrong_person", Topic.DECISION_PROCESS),
        ),
        CallStage.MIDDLE: (
            ("competitive_pressure", None),
            ("budget_freeze", Topic.BUDGET),
            ("bad_past_experience", None),
        ),
        CallStage.LATE: (
            ("delayed_decision", Topic.TIMELINE),
            ("discount_demand", Topic.BUDGET),
            ("new_stakeholder", Topic.DECISION_PROCESS),
        ),
    },
    Blueprint.MARKETING: {
        CallStage.EARLY: (("vanity_metrics", None), ("agency_loyalty", None), ("unclear_buyer", None)),
        CallStage.MIDDLE: (("attribution_doubt", None), ("budget_cut", Topic.BUDGET), ("me_too_idea", None)),
        CallStage.LATE: (("brand_risk", None), ("launch_slip", Topic.TIMELINE)),
    },
    Blueprint.IMPLEMENTATION: {
        CallStage.EARLY: (("data_mess", None), ("reluctant_team", None), ("wandering_call", None)),
        CallStage.MIDDLE: (("integration_surprise", None), ("key_person_leaving", None)),
        CallStage.LATE: (("go_live_pressure", None), ("scope_creep", None)),
    },
    Blueprint.HR: {
        CallStage.EARLY: (("guarded_employee", None), ("rumour", None)),
        CallStage.MIDDLE: (("manager_conflict", None), ("counter_offer", None)),
        CallStage.LATE: (("policy_push_back", None), ("escalation_threat", None)),
    },
    Blueprint.AGENTIC_ENG: {
        CallStage.EARLY: (("vague_goal", None), ("no_eval_data", None)),
        CallStage.MIDDLE: (("hallucination_incident", None), ("cost_spike", None)),
        CallStage.LATE: (("model_deprecation", None), ("compliance_review", None)),
    },
    Blueprint.FULLSTACK: {
        CallStage.EARLY: (("legacy_stack", None), ("unclear_owner", None), ("vague_requirement", None)),
        CallStage.MIDDLE: (("traffic_spike", None), ("flaky_tests", None)),
        CallStage.LATE: (("deadline_moved", Topic.TIMELINE), ("accessibility_audit", None)),
    },
    Blueprint.SECURITY: {
        CallStage.EARLY: (("no_inventory", None), ("checkbox_culture", None)),
        CallStage.MIDDLE: (("active_incident", None), ("vendor_breach", None)),
        CallStage.LATE: (("budget_veto", Topic.BUDGET), ("exception_request", None)),
    },
}



@functools.cache
def curveballs_in(texts: InterviewerTexts) -> dict[Blueprint, dict[CallStage, tuple[Curveball, ...]]]:
    """Each track's curveballs by stage, written in ``texts``'s language, each with the factor of the track's rubric
    it puts to the test."""
    return {blueprint: {stage: tuple(Curveball(*texts.curveballs[key], moot_once, probes=_probed(blueprint, key))
                                     for key, moot_once in planned)
                        for stage, planned in stages.items()}
            for blueprint, stages in _CURVEBALL_PLAN.items()}


def _probed(blueprint: Blueprint, curveball: str) -> str:
    """The factor of the track's own rubric the curveball puts to the test; none on a track without one."""
    rubric = track_rubric(blueprint)
    return rubric.probes.get(curveball, "") if rubric is not None else ""


CURVEBALLS = curveballs_in(interviewer_texts.ENGLISH)

_PRIORITY_RANK = {Priority.CRITICAL: 0, Priority.HIGH: 1, Priority.MEDIUM: 2, Priority.LOW: 3}


def suggest(
    metrics: ConversationMetrics,
    turns: Sequence[Turn],
    blueprint: Blueprint,
    call_stage: CallStage,
    *,
    context: CallContext = NO_CONTEXT,
    made: Collection[str] = frozenset(),
    read: TurnTexts | None = None,
    phrases: Phrases = ENGLISH,
    texts: InterviewerTexts = interviewer_texts.ENGLISH,
    factors: Mapping[str, int] | None = None,
) -> list[Suggestion]:
    """Suggestions for one reading, most urgent first: ``metrics`` measure the whole call so far, ``turns`` are the
    window shown (what the suggestions cite and quote), ``made`` the labels already suggested in the session,
    ``read`` the texts the measures read, with the ``phrases`` of the call's language; written in its ``texts``.
    ``factors`` are the reading's Say Meter factors: a track's own curveballs press the weakest first."""
    blueprint, call_stage = Blueprint(blueprint), CallStage(call_stage)
    ordered = sorted(turns, key=lambda turn: turn.sequence)
    read = {} if read is None else read
    suggestions = [
        *_followups(metrics, ordered, blueprint, call_stage, made, texts),
        *_context_injections(ordered, made, read, phrases, texts),
        *_curveball(metrics, ordered, blueprint, call_stage, context, made, read, phrases, texts, factors or {}),
    ]
    return sorted(suggestions, key=lambda suggestion: _PRIORITY_RANK[suggestion.priority])


def not_made(suggestions: Sequence[Suggestion], made: Collection[str]) -> list[Suggestion]:
    """The suggestions whose label the session has not had yet, each label once."""
    seen = set(made)
    fresh = []
    for suggestion in suggestions:
        if suggestion.label not in seen:
            seen.add(suggestion.label)
            fresh.append(suggestion)
    return fresh


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """The opening of what was said, cut at a word, to quote it back."""
    said = " ".join(normalise(text).split())
    if len(said) <= limit:
        return said
    return said[:limit - 3].rsplit(" ", 1)[0].rstrip(",;:") + "..."  # within the limit, the dots included


def _followups(metrics: ConversationMetrics, ordered: Sequence[Turn], blueprint: Blueprint, stage: CallStage,
               made: Collection[str], texts: InterviewerTexts) -> list[Suggestion]:
    by_sequence = {turn.sequence: turn for turn in ordered}
    followups = []
    # The latest unanswered objection the window still shows is the one in the air.
    for objection in reversed(metrics.unanswered_objections):
        raised = by_sequence.get(objection.sequence)
        if raised is None:
            continue
        kind = texts.objections[objection.kind]
        followups.append(Suggestion(
            SuggestionType.FOLLOWUP_QUESTION,
            texts.templates["unanswered_objection"].format(kind=kind, quote=quote(raised.text),
                                                           advice=texts.objection_advice[objection.kind]),
            Priority.HIGH, texts.templates["unanswered_objection_label"].format(kind=kind, sequence=objection.sequence),
            (objection.sequence,)))
        break
    followups = not_made(followups, made)
    heard = _latest_buyer_turn(ordered)
    if heard is None:
        return followups
    track = "technical" if blueprint in _TECHNICAL else "commercial"
    questions = texts.technical_questions if track == "technical" else texts.commercial_questions
    # Topics the whole call has not covered, so a topic discussed before the window is not asked about again.
    for topic in _TOPIC_ORDER[track]:
        label = texts.templates["uncover_label"].format(topic=texts.topics[topic])
        if len(followups) == MAX_FOLLOWUPS:
            break
        if topic in metrics.topics_covered or label in made:
            continue
        followups.append(Suggestion(
            SuggestionType.FOLLOWUP_QUESTION,
            texts.templates["uncover"].format(quote=quote(heard.text), question=questions[topic]),
            _topic_priority(topic, track, stage), label, (heard.sequence,)))
    return followups


def _latest_buyer_turn(ordered: Sequence[Turn]) -> Turn | None:
    said = [turn for turn in ordered if turn.role == Role.ASSISTANT and words(turn.text) >= MIN_QUOTED_WORDS]
    return said[-1] if said else None


def _topic_priority(topic: Topic, track: str, stage: CallStage) -> Priority:
    # What must be known before a commercial call ends becomes urgent late; early on there is still time.
    if stage == CallStage.EARLY:
        return Priority.LOW
    if stage == CallStage.LATE and track == "commercial" and topic in (Topic.BUDGET, Topic.DECISION_PROCESS):
        return Priority.HIGH
    return Priority.MEDIUM


def _context_injections(ordered: Sequence[Turn], made: Collection[str], read: TurnTexts, phrases: Phrases,
                        texts: InterviewerTexts) -> list[Suggestion]:
    injections = [*_reward_value(ordered, read, phrases, texts), *_interrupt_pitch(ordered, texts),
                  *_shorter_answers(ordered, texts)]
    return not_made(injections, made)


def _reward_value(ordered: Sequence[Turn], read: TurnTexts, phrases: Phrases,
                  texts: InterviewerTexts) -> list[Suggestion]:
    """The value theme the candidate keeps coming back to in the window (the latest mentioned on a tie)."""
    mentions: dict[ValueTheme, list[Turn]] = {}
    for turn in ordered:
        if turn.role == Role.USER:
            for mentioned in turn_text(turn.text, read, phrases).value_themes:
                mentions.setdefault(mentioned, []).append(turn)
    if not mentions:
        return []
    theme, said = max(mentions.items(), key=lambda item: (len(item[1]), item[1][-1].sequence))
    named = texts.themes[theme]
    return [Suggestion(SuggestionType.CONTEXT_INJECTION,
                       texts.templates["reward"].format(theme=named, quote=quote(said[-1].text)),
                       Priority.MEDIUM, texts.templates["reward_label"].format(theme=named),
                       tuple(turn.sequence for turn in said))]


def _interrupt_pitch(ordered: Sequence[Turn], texts: InterviewerTexts) -> list[Suggestion]:
    """The longest run of candidate messages in the window, when it is a pitch the persona should cut into."""
    runs: list[list[Turn]] = []
    for turn in ordered:
        if turn.role != Role.USER:
            runs.append([])
        elif runs and runs[-1]:
            runs[-1].append(turn)
        else:
            runs.append([turn])
    longest = max(runs, key=lambda run: sum(words(turn.text) for turn in run), default=[])
    if sum(words(turn.text) for turn in longest) <= LONG_PITCH_WORDS:
        return []
    return [Suggestion(SuggestionType.CONTEXT_INJECTION,
                       texts.templates["interrupt"].format(quote=quote(longest[0].text)), Priority.HIGH,
                       texts.templates["interrupt_label"], tuple(turn.sequence for turn in longest))]


def _shorter_answers(ordered: Sequence[Turn], texts: InterviewerTexts) -> list[Suggestion]:
    persona = [turn for turn in ordered if turn.role == Role.ASSISTANT]
    if not persona or sum(words(turn.text) for turn in persona) / len(persona) <= VERBOSE_PERSONA_WORDS:
        return []
    long_answers = [turn for turn in persona if words(turn.text) > VERBOSE_PERSONA_WORDS]
    return [Suggestion(SuggestionType.CONTEXT_INJECTION,
                       texts.templates["shorter"].format(quote=quote(long_answers[-1].text)), Priority.MEDIUM,
                       texts.templates["shorter_label"], tuple(turn.sequence for turn in long_answers))]


def _curveball(metrics: ConversationMetrics, ordered: Sequence[Turn], blueprint: Blueprint, stage: CallStage,
               context: CallContext, made: Collection[str], read: TurnTexts, phrases: Phrases,
               texts: InterviewerTexts, factors: Mapping[str, int]) -> list[Suggestion]:
    """The first curveball, the persona's and the scenario's before the track's own (those testing the weakest of
    the reading's ``factors`` first), that the call has not made moot and the session has not had; it answers the
    candidate's latest message."""
    answered = next((turn for turn in reversed(ordered) if turn.role == Role.USER), None)
    if answered is None:
        return []
    track = sorted(curveballs_in(texts)[blueprint][stage], key=lambda curveball: factors.get(curveball.probes, 100))
    for curveball in (*_from_context(context, stage, texts), *track):
        if curveball.label not in made and not _moot(curveball, metrics, ordered, read, phrases):
            text = texts.templates["curveball"].format(text=curveball.text, quote=quote(answered.text))
            return [Suggestion(SuggestionType.CURVEBALL, text, Priority.MEDIUM, curveball.label, (answered.sequence,))]
    return []


def _from_context(context: CallContext, stage: CallStage, texts: InterviewerTexts) -> list[Curveball]:
    curveballs = []
    for pattern in filter(None, (quote(pattern, CONTEXT_CHARS) for pattern in context.objection_patterns)):
        kinds = objection_kinds(pattern)
        stages = set.union(*(_OBJECTION_STAGES.get(kind, {CallStage.EARLY, CallStage.MIDDLE}) for kind in kinds)) \
            if kinds else {CallStage.EARLY, CallStage.MIDDLE}
        if stage in stages:
            topic = next((_OBJECTION_TOPICS[kind] for kind in sorted(kinds) if kind in _OBJECTION_TOPICS), None)
            curveballs.append(Curveball(_titled(texts.templates["own_objection_label"], objection=pattern),
                                        texts.templates["own_objection"].format(objection=pattern), topic, pattern))
    if stage != CallStage.LATE:
        curveballs.extend(Curveball(_titled(texts.templates["pain_label"], pain=pain),
                                    texts.templates["pain"].format(pain=pain), about=pain)
                          for pain in filter(None, (quote(pain, CONTEXT_CHARS) for pain in context.pain_points)))
    budget, timeline = quote(context.budget_range, CONTEXT_CHARS), quote(context.decision_timeline, CONTEXT_CHARS)
    if stage == CallStage.MIDDLE and budget:
        curveballs.append(Curveball(texts.templates["budget_ceiling_label"],
                                    texts.templates["budget_ceiling"].format(budget=budget), Topic.BUDGET))
    if stage == CallStage.LATE and timeline:
        curveballs.append(Curveball(texts.templates["hard_deadline_label"],
                                    texts.templates["hard_deadline"].format(timeline=timeline), Topic.TIMELINE))
    return curveballs


def _titled(template: str, **said: str) -> str:
    """A label of ``template`` naming what was ``said``, quoted short enough for the label to fit its bound."""
    room = LABEL_CHARS - len(template.format(**dict.fromkeys(said, "")))
    return template.format(**{name: quote(words, room) for name, words in said.items()})


def _moot(curveball: Curveball, metrics: ConversationMetrics, ordered: Sequence[Turn], read: TurnTexts,
          phrases: Phrases) -> bool:
    """Whether the call has already dealt with what the curveball would raise."""
    if curveball.moot_once is not None and curveball.moot_once in metrics.topics_covered:
        return True
    if curveball.moot_once == Topic.DECISION_PROCESS and any(
            _ANOTHER_STAKEHOLDER_PRESENT.search(turn_text(turn.text, read, phrases).text) for turn in ordered):
        return True
    if not curveball.about:
        return False
    # An objection of a kind the buyer already raised, or words the call has already said, are not news.
    if objection_kinds(curveball.about, phrases) & {objection.kind for objection in metrics.objections}:
        return True
    about = content_words(curveball.about, phrases)
    said = set().union(*(turn_text(turn.text, read, phrases).content for turn in ordered))
    return bool(about) and len(about & said) >= SAID_SHARE * len(about)
