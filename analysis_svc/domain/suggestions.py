"""Suggestions for the interviewer, each drawn from the call and citing the messages it answers: follow-up questions
built on the buyer's own words, context injections that steer the persona on what the call is about, and a
curveball from the persona's own objections and the scenario, at the call's stage.

Nothing the call has made moot is suggested (a budget curveball once the budget was discussed, another stakeholder
once the decision makers are mapped or on the call), and nothing already made in the session (applied, dismissed
or still open) is made again: a suggestion's label says what it is about, so a label already made is skipped."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

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


_COMMERCIAL_FOLLOWUPS = {
    Topic.PAIN: "What is the biggest problem this is causing your team today?",
    Topic.BUDGET: "Have you set aside a budget for solving this, and roughly what range?",
    Topic.TIMELINE: "By when do you need this solved, and what is driving that date?",
    Topic.DECISION_PROCESS: "Who else is involved in the decision, and how do you usually approve a purchase?",
    Topic.SUCCESS_CRITERIA: "What does success look like 90 days after implementation?",
}
_TECHNICAL_FOLLOWUPS = {
    Topic.PAIN: "What is breaking or slowing the team down today, and how often?",
    Topic.BUDGET: "What constraints do we have on cost, infrastructure or headcount?",
    Topic.TIMELINE: "When does this need to ship, and is that date fixed?",
    Topic.DECISION_PROCESS: "Who reviews and signs off on the design?",
    Topic.SUCCESS_CRITERIA: "Which metrics tell us this worked once it is live?",
}
_TECHNICAL = {Blueprint.AGENTIC_ENG, Blueprint.FULLSTACK, Blueprint.SECURITY}
# Which uncovered topic matters most for each track, most important first.
_TOPIC_ORDER = {
    "commercial": (Topic.PAIN, Topic.BUDGET, Topic.DECISION_PROCESS, Topic.TIMELINE, Topic.SUCCESS_CRITERIA),
    "technical": (Topic.PAIN, Topic.SUCCESS_CRITERIA, Topic.TIMELINE, Topic.DECISION_PROCESS, Topic.BUDGET),
}
_OBJECTION_FOLLOWUPS = {
    ObjectionKind.PRICE: "acknowledge it, then ask what the problem costs them today.",
    ObjectionKind.TIMING: "ask what would make this a priority now.",
    ObjectionKind.COMPETITOR: "ask what they like about it and where it falls short.",
    ObjectionKind.RISK: "ask what worries them most and offer a low-risk pilot.",
    ObjectionKind.AUTHORITY: "ask who decides and what they would need to see.",
    ObjectionKind.STATUS_QUO: "ask what it costs them when it does not work.",
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

CURVEBALLS: dict[Blueprint, dict[CallStage, tuple[Curveball, ...]]] = {
    Blueprint.SALES: {
        CallStage.EARLY: (
            Curveball("Short on Time", "Mention you only have ten minutes before another meeting."),
            Curveball("Skeptical Opener", "Say you have taken three of these calls this month and none were worth it."),
            Curveball("Wrong Person", "Ask whether they meant to reach your colleague in operations instead.",
                      Topic.DECISION_PROCESS),
        ),
        CallStage.MIDDLE: (
            Curveball("Competitive Pressure", "Your boss just asked to see competitive quotes."),
            Curveball("Budget Freeze", "Finance just announced a spending freeze until next quarter.", Topic.BUDGET),
            Curveball("Bad Past Experience", "Say a similar tool failed last year and the team still resents it."),
        ),
        CallStage.LATE: (
            Curveball("Delayed Decision", "The CTO just emailed asking to delay the decision.", Topic.TIMELINE),
            Curveball("Discount Demand", "Say you can sign this month only with a 30% discount.", Topic.BUDGET),
            Curveball("New Stakeholder", "Say procurement now needs to review every new vendor.",
                      Topic.DECISION_PROCESS),
        ),
    },
    Blueprint.MARKETING: {
        CallStage.EARLY: (
            Curveball("Vanity Metrics", "Say the board only cares about follower counts."),
            Curveball("Agency Loyalty", "Mention your agency has run campaigns for you for six years."),
        ),
        CallStage.MIDDLE: (
            Curveball("Attribution Doubt", "Ask how they would prove a campaign caused any revenue."),
            Curveball("Budget Cut", "Say the marketing budget was just cut by 40%.", Topic.BUDGET),
        ),
        CallStage.LATE: (
            Curveball("Brand Risk", "Say legal is nervous about any campaign that mentions competitors."),
            Curveball("Launch Slip", "Say the product launch just slipped by two months.", Topic.TIMELINE),
        ),
    },
    Blueprint.IMPLEMENTATION: {
        CallStage.EARLY: (
            Curveball("Data Mess", "Admit your customer data lives in four spreadsheets nobody owns."),
            Curveball("Reluctant Team", "Say your team did not ask for this project."),
        ),
        CallStage.MIDDLE: (
            Curveball("Integration Surprise", "Mention a legacy system that must stay in the loop."),
            Curveball("Key Person Leaving", "Say your project lead resigned this morning."),
        ),
        CallStage.LATE: (
            Curveball("Go-Live Pressure", "Say leadership wants go-live two weeks earlier than planned."),
            Curveball("Scope Creep", "Ask to add a second business unit to the rollout at no extra cost."),
        ),
    },
    Blueprint.HR: {
        CallStage.EARLY: (
            Curveball("Guarded Employee", "Answer the next question briefly and ask why HR wants to know."),
            Curveball("Rumour", "Mention you heard layoffs are coming."),
        ),
        CallStage.MIDDLE: (
            Curveball("Manager Conflict", "Reveal the real problem is your manager; ask if this stays private."),
            Curveball("Counter Offer", "Say a competitor offered you 20% more last week."),
        ),
        CallStage.LATE: (
            Curveball("Policy Push-Back", "Say the new policy feels unfair to people with caring duties."),
            Curveball("Escalation Threat", "Say you will go to the works council if nothing changes."),
        ),
    },
    Blueprint.AGENTIC_ENG: {
        CallStage.EARLY: (
            Curveball("Vague Goal", "Say leadership just wants 'AI agents' and cannot say for what."),
            Curveball("No Eval Data", "Admit there is no labelled data to evaluate the agent against."),
        ),
        CallStage.MIDDLE: (
            Curveball("Hallucination Incident", "Say the last prototype invented a refund policy for a customer."),
            Curveball("Cost Spike", "Say last month's model bill was three times the estimate."),
        ),
        CallStage.LATE: (
            Curveball("Model Deprecation", "Say the model the design relies on is being retired next quarter."),
            Curveball("Compliance Review", "Say security must approve any tool the agent can call."),
        ),
    },
    Blueprint.FULLSTACK: {
        CallStage.EARLY: (
            Curveball("Legacy Stack", "Mention the front end is still a jQuery monolith."),
            Curveball("Unclear Owner", "Say nobody owns the API the feature depends on."),
        ),
        CallStage.MIDDLE: (
            Curveball("Traffic Spike", "Say marketing expects ten times the traffic on launch day."),
            Curveball("Flaky Tests", "Admit the test suite fails randomly about one run in five."),
        ),
        CallStage.LATE: (
            Curveball("Deadline Moved", "Say the release was moved up by a week.", Topic.TIMELINE),
            Curveball("Accessibility Audit", "Say an accessibility audit is due before launch."),
        ),
    },
    Blueprint.SECURITY: {
        CallStage.EARLY: (
            Curveball("No Inventory", "Admit nobody knows how many services are exposed to the internet."),
            Curveball("Checkbox Culture", "Say the team only cares about passing the audit."),
        ),
        CallStage.MIDDLE: (
            Curveball("Active Incident", "Say an alert just fired for unusual logins on an admin account."),
            Curveball("Vendor Breach", "Say a key vendor announced a breach this morning."),
        ),
        CallStage.LATE: (
            Curveball("Budget Veto", "Say the CFO will not fund any tool without a number for the risk reduced.",
                      Topic.BUDGET),
            Curveball("Exception Request", "Say sales wants an exception to the MFA policy for a big customer."),
        ),
    },
}

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
) -> list[Suggestion]:
    """Suggestions for one reading, most urgent first: ``metrics`` measure the whole call so far, ``turns`` are the
    window shown (what the suggestions cite and quote), ``made`` the labels already suggested in the session,
    ``read`` the texts the measures read, with the ``phrases`` of the call's language."""
    blueprint, call_stage = Blueprint(blueprint), CallStage(call_stage)
    ordered = sorted(turns, key=lambda turn: turn.sequence)
    read = {} if read is None else read
    suggestions = [
        *_followups(metrics, ordered, blueprint, call_stage, made),
        *_context_injections(ordered, made, read, phrases),
        *_curveball(metrics, ordered, blueprint, call_stage, context, made, read, phrases),
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
               made: Collection[str]) -> list[Suggestion]:
    by_sequence = {turn.sequence: turn for turn in ordered}
    followups = []
    # The latest unanswered objection the window still shows is the one in the air.
    for objection in reversed(metrics.unanswered_objections):
        raised = by_sequence.get(objection.sequence)
        if raised is None:
            continue
        kind = objection.kind.replace("_", " ")
        followups.append(Suggestion(
            SuggestionType.FOLLOWUP_QUESTION,
            f'Go back to the {kind} concern, "{quote(raised.text)}": {_OBJECTION_FOLLOWUPS[objection.kind]}',
            Priority.HIGH, f"Unanswered {kind} objection (message {objection.sequence})", (objection.sequence,)))
        break
    followups = not_made(followups, made)
    heard = _latest_buyer_turn(ordered)
    if heard is None:
        return followups
    track = "technical" if blueprint in _TECHNICAL else "commercial"
    texts = _TECHNICAL_FOLLOWUPS if track == "technical" else _COMMERCIAL_FOLLOWUPS
    # Topics the whole call has not covered, so a topic discussed before the window is not asked about again.
    for topic in _TOPIC_ORDER[track]:
        label = f"Uncover {topic.replace('_', ' ')}"
        if len(followups) == MAX_FOLLOWUPS:
            break
        if topic in metrics.topics_covered or label in made:
            continue
        followups.append(Suggestion(
            SuggestionType.FOLLOWUP_QUESTION, f'Build on "{quote(heard.text)}" and ask: {texts[topic]}',
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


def _context_injections(ordered: Sequence[Turn], made: Collection[str], read: TurnTexts,
                        phrases: Phrases) -> list[Suggestion]:
    injections = [*_reward_value(ordered, read, phrases), *_interrupt_pitch(ordered), *_shorter_answers(ordered)]
    return not_made(injections, made)


def _reward_value(ordered: Sequence[Turn], read: TurnTexts, phrases: Phrases) -> list[Suggestion]:
    """The value theme the candidate keeps coming back to in the window (the latest mentioned on a tie)."""
    mentions: dict[ValueTheme, list[Turn]] = {}
    for turn in ordered:
        if turn.role == Role.USER:
            for mentioned in turn_text(turn.text, read, phrases).value_themes:
                mentions.setdefault(mentioned, []).append(turn)
    if not mentions:
        return []
    theme, said = max(mentions.items(), key=lambda item: (len(item[1]), item[1][-1].sequence))
    return [Suggestion(SuggestionType.CONTEXT_INJECTION,
                       f'Show more interest when the candidate talks about {theme}, as in "{quote(said[-1].text)}".',
                       Priority.MEDIUM, f"Reward {theme}", tuple(turn.sequence for turn in said))]


def _interrupt_pitch(ordered: Sequence[Turn]) -> list[Suggestion]:
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
                       f'Cut in politely during long pitches such as "{quote(longest[0].text)}" and ask how this '
                       "applies to your team.", Priority.HIGH, "Interrupt the pitch",
                       tuple(turn.sequence for turn in longest))]


def _shorter_answers(ordered: Sequence[Turn]) -> list[Suggestion]:
    persona = [turn for turn in ordered if turn.role == Role.ASSISTANT]
    if not persona or sum(words(turn.text) for turn in persona) / len(persona) <= VERBOSE_PERSONA_WORDS:
        return []
    long_answers = [turn for turn in persona if words(turn.text) > VERBOSE_PERSONA_WORDS]
    return [Suggestion(SuggestionType.CONTEXT_INJECTION,
                       f'Keep answers to two sentences, not "{quote(long_answers[-1].text)}"; make the candidate ask '
                       "for details.", Priority.MEDIUM, "Shorter answers",
                       tuple(turn.sequence for turn in long_answers))]


def _curveball(metrics: ConversationMetrics, ordered: Sequence[Turn], blueprint: Blueprint, stage: CallStage,
               context: CallContext, made: Collection[str], read: TurnTexts, phrases: Phrases) -> list[Suggestion]:
    """The first curveball, the persona's and the scenario's before the track's own, that the call has not made
    moot and the session has not had; it answers the candidate's latest message."""
    answered = next((turn for turn in reversed(ordered) if turn.role == Role.USER), None)
    if answered is None:
        return []
    for curveball in (*_from_context(context, stage), *CURVEBALLS[blueprint][stage]):
        if curveball.label not in made and not _moot(curveball, metrics, ordered, read, phrases):
            text = f'{curveball.text} Say it in answer to "{quote(answered.text)}".'
            return [Suggestion(SuggestionType.CURVEBALL, text, Priority.MEDIUM, curveball.label, (answered.sequence,))]
    return []


def _from_context(context: CallContext, stage: CallStage) -> list[Curveball]:
    curveballs = []
    for pattern in filter(None, (quote(pattern, CONTEXT_CHARS) for pattern in context.objection_patterns)):
        kinds = objection_kinds(pattern)
        stages = set.union(*(_OBJECTION_STAGES.get(kind, {CallStage.EARLY, CallStage.MIDDLE}) for kind in kinds)) \
            if kinds else {CallStage.EARLY, CallStage.MIDDLE}
        if stage in stages:
            topic = next((_OBJECTION_TOPICS[kind] for kind in sorted(kinds) if kind in _OBJECTION_TOPICS), None)
            curveballs.append(Curveball(_titled("Objection: ", pattern), f'Raise your own objection: "{pattern}"',
                                        topic, pattern))
    if stage != CallStage.LATE:
        curveballs.extend(Curveball(_titled("Pain: ", pain), f"Bring up a problem they have not found: {pain}.",
                                    about=pain)
                          for pain in filter(None, (quote(pain, CONTEXT_CHARS) for pain in context.pain_points)))
    budget, timeline = quote(context.budget_range, CONTEXT_CHARS), quote(context.decision_timeline, CONTEXT_CHARS)
    if stage == CallStage.MIDDLE and budget:
        curveballs.append(Curveball("Budget Ceiling", f"Say the most you could spend is {budget}, and finance would "
                                    "rather spend less.", Topic.BUDGET))
    if stage == CallStage.LATE and timeline:
        curveballs.append(Curveball("Hard Deadline", f"Hold them to your timeline ({timeline}) and ask whether they "
                                    "can meet it.", Topic.TIMELINE))
    return curveballs


def _titled(prefix: str, words: str) -> str:
    return prefix + quote(words, LABEL_CHARS - len(prefix))


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
