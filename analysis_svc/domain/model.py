"""What the analysis service keeps and reads: analyses, suggestions, audits, and the call as the engines see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from analysis_svc.domain.content_findings import ContentFinding
from analysis_svc.domain.conversation import ConversationMetrics, Topic, TurnTexts
from analysis_svc.domain.say_meter import SayMeter
from analysis_svc.domain.suggestions import NO_CONTEXT, CallContext, Suggestion
from analysis_svc.domain.tracks.rubric import Tally
from analysis_svc.domain.trend import NO_ALERT, NO_TREND, ProspectAlert, ScoreAt, Trend
from calls.persona_audit import PersonaAudit, PersonaProfile
from calls.turns import Role, Turn

# The trigger source of the reading of the whole call taken when it ends, before its audit.
SESSION_END = "session_end"


@dataclass(frozen=True)
class Window:
    """The messages of a live call an analysis judges, as the transcript service holds them."""

    blueprint: str
    last_durable_sequence: int
    turns: tuple[Turn, ...]
    persona: str = ""  # the persona playing the call now (after a handoff, the new one): its safety policy screens it
    scenario: str | None = None  # the session's scenario ('' for none); None when the window does not say


@dataclass(frozen=True)
class PersonaPart:
    """The turns one persona played in a call (and the candidate's turns while it played), from its first message."""

    persona: str
    first_sequence: int
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class EndedCall:
    persona: str
    blueprint: str
    turns: tuple[Turn, ...]
    scenario: str = ""  # "scenarios/{id}", or "" when the session has none
    # (persona, first sequence it played) of each handoff the gateway accepted, in order.
    handovers: tuple[tuple[str, int], ...] = ()

    def parts(self) -> list[PersonaPart]:
        """Who played which turns, one part per persona in the order they first played. A persona handed the call
        without saying anything in it has no part; the starting persona has one even when it holds no turn, so a
        call with no messages is refused as before."""
        starts = [(self.persona, 1), *self.handovers]
        played: dict[str, tuple[int, list[Turn]]] = {}
        for index, (persona, first) in enumerate(starts):
            end = starts[index + 1][1] if index + 1 < len(starts) else None
            _, turns = played.setdefault(persona, (first, []))
            turns.extend(t for t in self.turns if t.sequence >= first and (end is None or t.sequence < end))
        return [PersonaPart(persona, first, tuple(turns)) for persona, (first, turns) in played.items()
                if persona == self.persona or any(turn.role is Role.ASSISTANT for turn in turns)]


@dataclass(frozen=True)
class AuditedPersona:
    name: str
    display_name: str
    profile: PersonaProfile


@dataclass(frozen=True)
class LiveWindow:
    """A window to judge, with the labels of the suggestions the session has had (none is raised again) and what its
    persona and scenario give the curveballs."""

    session_id: str
    blueprint: str
    turns: tuple[Turn, ...]
    made: frozenset[str] = frozenset()
    context: CallContext = NO_CONTEXT
    language: str = "en"  # ISO 639-1 of the call (domain.language), "" when undetermined
    read: TurnTexts = field(default_factory=dict, compare=False)  # its texts as the measures read them
    tally: Tally | None = None  # for a track with its own rubric (domain.tracks): the call so far, as it scores it


@dataclass(frozen=True)
class Judgement:
    say_meter: SayMeter
    suggestions: list[Suggestion]
    model: str = ""  # the model that judged, for an engine that runs one


class KeptMeasures(NamedTuple):
    """The whole call's measures a stored reading kept, and the sequence they run up to."""

    up_to_sequence: int
    measures: ConversationMetrics
    tally: Tally | None = None  # the track's tally of the call (domain.tracks), for a track with its own rubric


class ReadingState(NamedTuple):
    """What a new reading of a session builds on, read at once."""

    existing: str | None  # the id of the analysis already stored for the reading's trigger
    made: frozenset[str]  # the labels of every suggestion the session has had, open, applied or dismissed
    handoff_open: bool  # a handoff suggestion of the session is still open
    kept: KeptMeasures | None  # the measures kept by the last reading in call order at or before the new one
    # The last live readings in call order at or before the new one (domain.trend: at most MAX_TREND_READINGS), and
    # whether the "losing the prospect" alert was on at the latest of them.
    earlier: tuple[ScoreAt, ...] = ()
    alert_on: bool = False


@dataclass(frozen=True)
class StoredSuggestion:
    id: str
    analysis_id: str
    session_id: str
    suggestion: Suggestion
    state: str
    create_time: datetime
    command: str = ""
    dismiss_reason: str = ""
    resolve_time: datetime | None = None
    revision: int = 1
    position: int = 1  # its place in its analysis, after the Say Meter (0): the order it was raised in

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'


@dataclass(frozen=True)
class NewAnalysis:
    """An analysis to store: one Say Meter reading of a window and the suggestions raised with it."""

    id: str
    session_id: str
    trigger_id: str
    trigger_source: str
    up_to_sequence: int  # where in the call it was triggered: its place among the session's analyses
    window_first: int
    window_last: int
    window_count: int
    blueprint: str
    say_meter: SayMeter
    metrics: dict[str, Any]
    engine: str
    engine_fallback: bool
    model: str
    latency_ms: float
    suggestions: tuple[Suggestion, ...]
    call_measures: dict[str, Any] | None = None  # the whole call's measures up to this reading (domain.running)
    call_tally: Tally | None = None  # and its track's tally, for a track with its own rubric (domain.tracks)
    language: str = "en"  # ISO 639-1 of the call (domain.language), "" when undetermined
    language_supported: bool = True  # the engine that read it understands that language
    findings: tuple[ContentFinding, ...] = ()  # the input filters' findings in messages no earlier reading screened
    trend: Trend = NO_TREND
    losing_prospect: ProspectAlert = NO_ALERT


@dataclass(frozen=True)
class StoredAnalysis:
    id: str
    session_id: str
    trigger_id: str
    trigger_source: str
    up_to_sequence: int  # where in the call it was triggered: its place among the session's analyses
    window_first: int
    window_last: int
    window_count: int
    blueprint: str
    say_meter: SayMeter
    metrics: dict[str, Any]
    engine: str
    latency_ms: float
    create_time: datetime
    suggestions: tuple[StoredSuggestion, ...] = ()
    engine_fallback: bool = False
    model: str = ""
    language: str = "en"
    language_supported: bool = True
    findings: tuple[ContentFinding, ...] = ()
    trend: Trend = NO_TREND
    losing_prospect: ProspectAlert = NO_ALERT


@dataclass(frozen=True)
class SayMeterArc:
    """How the Say Meter moved through a call: its live readings' scores in call order, and its final reading."""

    scores: tuple[int, ...]
    final_score: int | None  # None when the call ended with no message


class ScorePoint(NamedTuple):
    analysis_id: str
    last_sequence: int
    score: int
    create_time: datetime


@dataclass(frozen=True)
class Snapshot:
    session_id: str
    latest: StoredAnalysis | None  # the current meter: the last in call order
    history: list[ScorePoint]  # in call order
    open_suggestions: list[StoredSuggestion]
    final_reading: bool = False  # the reading of the whole call at its end is stored


@dataclass(frozen=True)
class NewAudit:
    id: str
    session_id: str
    persona: str
    persona_display_name: str
    blueprint: str
    audit: PersonaAudit
    engine: str
    engine_fallback: bool
    first_sequence: int = 1  # the first message its persona played


@dataclass(frozen=True)
class StoredAudit:
    id: str
    session_id: str
    persona: str
    persona_display_name: str
    blueprint: str
    audit: PersonaAudit
    delivery_state: str
    delivery_attempts: int
    last_delivery_error: str
    deliver_time: datetime | None
    create_time: datetime
    engine: str = "local"  # the engine that produced it
    engine_fallback: bool = False  # openai was asked for, failed, and local stood in


def metrics_record(metrics: ConversationMetrics) -> dict[str, Any]:
    """The measures the contract publishes."""
    return {
        "candidate_talk_ratio": metrics.candidate_talk_ratio,
        "candidate_question_rate": metrics.candidate_question_rate,
        "candidate_words_per_turn": metrics.candidate_words_per_turn,
        "persona_words_per_turn": metrics.persona_words_per_turn,
        "longest_monologue_words": metrics.candidate_longest_monologue_words,
        "pain_covered": Topic.PAIN in metrics.topics_covered,
        "budget_covered": Topic.BUDGET in metrics.topics_covered,
        "timeline_covered": Topic.TIMELINE in metrics.topics_covered,
        "decision_process_covered": Topic.DECISION_PROCESS in metrics.topics_covered,
        "success_criteria_covered": Topic.SUCCESS_CRITERIA in metrics.topics_covered,
        "objections_raised": metrics.objections_raised,
        "objections_handled": metrics.objections_handled,
        "next_step_committed": metrics.next_step_committed,
    }


@dataclass(frozen=True)
class SessionRisk:
    """A session's risk as the transcript service keeps it: 0 to 100, when it reached the policy's escalation
    threshold (None: not yet), and whether it reached its risk threshold (shown as at risk)."""

    session_id: str
    score: int
    alert_time: datetime | None
    update_time: datetime
    at_risk: bool = False


@dataclass(frozen=True)
class RiskAlert:
    """The watchers' event of a session's risk reaching its policy's escalation threshold."""

    risk: SessionRisk
