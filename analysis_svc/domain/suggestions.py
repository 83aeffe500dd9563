"""Suggestions for the interviewer: follow-up questions for what the candidate has not uncovered, context
injections that steer the persona, and a curveball suited to the blueprint and the stage of the call.

Deterministic: the curveball is picked by a stable hash of the session and the window, never Python's hash()."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from analysis_svc.domain.conversation import ConversationMetrics, ObjectionKind, Topic
from calls.job_tracks import Blueprint
from calls.turns import Turn

# Messages in the call so far at which it moves to the next stage.
MIDDLE_FROM = 12
LATE_FROM = 30
# Candidate words in one run (about half a minute of speech) after which the persona should cut in.
LONG_PITCH_WORDS = 80
# Persona answers longer than this give the candidate too much for free.
VERBOSE_PERSONA_WORDS = 60
MAX_FOLLOWUPS = 2


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
    switching_rule: str = ""  # the rule that raised a HANDOFF suggestion, "switchingRules/{id}"


@dataclass(frozen=True, slots=True)
class Curveball:
    label: str
    text: str


def stage_for(message_count: int) -> CallStage:
    if message_count >= LATE_FROM:
        return CallStage.LATE
    return CallStage.MIDDLE if message_count >= MIDDLE_FROM else CallStage.EARLY


_COMMERCIAL_FOLLOWUPS = {
    Topic.PAIN: "Ask: What is the biggest problem this is causing your team today?",
    Topic.BUDGET: "Ask: Have you set aside a budget for solving this, and roughly what range?",
    Topic.TIMELINE: "Ask: By when do you need this solved, and what is driving that date?",
    Topic.DECISION_PROCESS: "Ask: Who else is involved in the decision, and how do you usually approve a purchase?",
    Topic.SUCCESS_CRITERIA: "Ask: What does success look like 90 days after implementation?",
}
_TECHNICAL_FOLLOWUPS = {
    Topic.PAIN: "Ask: What is breaking or slowing the team down today, and how often?",
    Topic.BUDGET: "Ask: What constraints do we have on cost, infrastructure or headcount?",
    Topic.TIMELINE: "Ask: When does this need to ship, and is that date fixed?",
    Topic.DECISION_PROCESS: "Ask: Who reviews and signs off on the design?",
    Topic.SUCCESS_CRITERIA: "Ask: Which metrics tell us this worked once it is live?",
}
_TECHNICAL = {Blueprint.AGENTIC_ENG, Blueprint.FULLSTACK, Blueprint.SECURITY}
# Which uncovered topic matters most for each track, most important first.
_TOPIC_ORDER = {
    "commercial": (Topic.PAIN, Topic.BUDGET, Topic.DECISION_PROCESS, Topic.TIMELINE, Topic.SUCCESS_CRITERIA),
    "technical": (Topic.PAIN, Topic.SUCCESS_CRITERIA, Topic.TIMELINE, Topic.DECISION_PROCESS, Topic.BUDGET),
}
_OBJECTION_FOLLOWUPS = {
    ObjectionKind.PRICE: "Go back to the price concern: acknowledge it, then ask what the problem costs them today.",
    ObjectionKind.TIMING: "Go back to the timing concern: ask what would make this a priority now.",
    ObjectionKind.COMPETITOR: "Go back to the competitor: ask what they like about it and where it falls short.",
    ObjectionKind.RISK: "Go back to the risk concern: ask what worries them most and offer a low-risk pilot.",
    ObjectionKind.AUTHORITY: "Go back to the sign-off: ask who decides and what they would need to see.",
    ObjectionKind.STATUS_QUO: "Go back to 'it works fine': ask what it costs them when it does not.",
}

CURVEBALLS: dict[Blueprint, dict[CallStage, tuple[Curveball, ...]]] = {
    Blueprint.SALES: {
        CallStage.EARLY: (
            Curveball("Short on Time", "Mention you only have ten minutes before another meeting."),
            Curveball("Skeptical Opener", "Say you have taken three of these calls this month and none were worth it."),
            Curveball("Wrong Person", "Ask whether they meant to reach your colleague in operations instead."),
        ),
        CallStage.MIDDLE: (
            Curveball("Competitive Pressure", "Your boss just asked to see competitive quotes."),
            Curveball("Budget Freeze", "Finance just announced a spending freeze until next quarter."),
            Curveball("Bad Past Experience", "Say a similar tool failed last year and the team still resents it."),
        ),
        CallStage.LATE: (
            Curveball("Delayed Decision", "The CTO just emailed asking to delay the decision."),
            Curveball("Discount Demand", "Say you can sign this month only with a 30% discount."),
            Curveball("New Stakeholder", "Say procurement now needs to review every new vendor."),
        ),
    },
    Blueprint.MARKETING: {
        CallStage.EARLY: (
            Curveball("Vanity Metrics", "Say the board only cares about follower counts."),
            Curveball("Agency Loyalty", "Mention your agency has run campaigns for you for six years."),
        ),
        CallStage.MIDDLE: (
            Curveball("Attribution Doubt", "Ask how they would prove a campaign caused any revenue."),
            Curveball("Budget Cut", "Say the marketing budget was just cut by 40%."),
        ),
        CallStage.LATE: (
            Curveball("Brand Risk", "Say legal is nervous about any campaign that mentions competitors."),
            Curveball("Launch Slip", "Say the product launch just slipped by two months."),
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
            Curveball("Deadline Moved", "Say the release was moved up by a week."),
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
            Curveball("Budget Veto", "Say the CFO will not fund any tool without a number for the risk reduced."),
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
    session_key: str = "",
    previous_curveball: str | None = None,
) -> list[Suggestion]:
    """Suggestions for one analysed window, most urgent first.

    session_key varies the curveball between sessions; previous_curveball (the label last suggested for this
    session) is never suggested again straight away."""
    blueprint, call_stage = Blueprint(blueprint), CallStage(call_stage)
    suggestions = [
        *_followups(metrics, blueprint, call_stage),
        *_context_injections(metrics),
        _curveball(turns, blueprint, call_stage, session_key, previous_curveball),
    ]
    return sorted(suggestions, key=lambda suggestion: _PRIORITY_RANK[suggestion.priority])


def _followups(metrics: ConversationMetrics, blueprint: Blueprint, stage: CallStage) -> list[Suggestion]:
    followups = [
        Suggestion(
            SuggestionType.FOLLOWUP_QUESTION,
            _OBJECTION_FOLLOWUPS[objection.kind],
            Priority.HIGH,
            f"Unanswered {objection.kind.replace('_', ' ')} objection",
        )
        for objection in metrics.unanswered_objections[-1:]  # the latest one is the one still in the air
    ]
    track = "technical" if blueprint in _TECHNICAL else "commercial"
    texts = _TECHNICAL_FOLLOWUPS if track == "technical" else _COMMERCIAL_FOLLOWUPS
    uncovered = [topic for topic in _TOPIC_ORDER[track] if topic not in metrics.topics_covered]
    for topic in uncovered[: MAX_FOLLOWUPS - len(followups)]:
        followups.append(
            Suggestion(SuggestionType.FOLLOWUP_QUESTION, texts[topic], _topic_priority(topic, track, stage),
                       f"Uncover {topic.replace('_', ' ')}")
        )  # fmt: skip
    return followups


def _topic_priority(topic: Topic, track: str, stage: CallStage) -> Priority:
    # What must be known before a commercial call ends becomes urgent late; early on there is still time.
    if stage == CallStage.EARLY:
        return Priority.LOW
    if stage == CallStage.LATE and track == "commercial" and topic in (Topic.BUDGET, Topic.DECISION_PROCESS):
        return Priority.HIGH
    return Priority.MEDIUM


def _context_injections(metrics: ConversationMetrics) -> list[Suggestion]:
    injections = []
    if metrics.value_themes:
        theme = sorted(metrics.value_themes)[0]
        injections.append(
            Suggestion(SuggestionType.CONTEXT_INJECTION, f"Show more interest when the candidate mentions {theme}.",
                       Priority.MEDIUM, "Reward value")
        )  # fmt: skip
    if metrics.candidate_longest_monologue_words > LONG_PITCH_WORDS:
        injections.append(
            Suggestion(SuggestionType.CONTEXT_INJECTION,
                       "Cut in politely during long pitches and ask how this applies to your team.",
                       Priority.HIGH, "Interrupt the pitch")
        )  # fmt: skip
    if metrics.persona_words_per_turn > VERBOSE_PERSONA_WORDS:
        injections.append(
            Suggestion(SuggestionType.CONTEXT_INJECTION,
                       "Keep answers to two sentences; make the candidate ask for details.",
                       Priority.MEDIUM, "Shorter answers")
        )  # fmt: skip
    return injections


def _curveball(
    turns: Sequence[Turn], blueprint: Blueprint, stage: CallStage, session_key: str, previous: str | None
) -> Suggestion:
    library = CURVEBALLS[blueprint][stage]
    sequences = [turn.sequence for turn in turns]
    window = f"{session_key}|{blueprint}|{stage}|{min(sequences, default=0)}|{max(sequences, default=0)}"
    index = int.from_bytes(hashlib.sha256(window.encode()).digest()[:8], "big") % len(library)
    if library[index].label == previous:
        index = (index + 1) % len(library)
    chosen = library[index]
    return Suggestion(SuggestionType.CURVEBALL, chosen.text, Priority.MEDIUM, chosen.label)
