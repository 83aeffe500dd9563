"""Episodic memory: an ended session as the persona remembers it, and how episodes are ranked against a context."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from calls.persona_audit import FlagReason
from calls.turns import Turn
from persona_svc.domain.facts import ExtractedFact, FactKind, ObjectionOutcome
from svckit.errors import FieldViolation, InvalidArgument, Violations
from svckit.names import valid_id

MAX_SUMMARY_CHARS = 600
MAX_DOCUMENT_CHARS = 8_000
MAX_CONTEXT_CHARS = 2_000
DEFAULT_RECALLED, MAX_RECALLED = 5, 20
# A review's bounds: the first live readings of a call, and the audit's flags (the audit keeps 20 at most).
MAX_ARC_READINGS, MAX_REVIEW_FLAGS = 200, 20


class EpisodeRanking(StrEnum):
    FULL_TEXT = "full_text"
    TRIGRAM = "trigram"
    HYBRID = "hybrid"  # with embeddings: the reciprocal rank fusion of the three, else the mean of the two lexical
    VECTOR = "vector"  # the cosine similarity of embeddings


@dataclass(frozen=True, slots=True)
class Embedding:
    """A text's embedding, and the model that made it: only embeddings of one model are compared."""

    model: str
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class EpisodeFlag:
    reason: FlagReason
    message_sequence: int


@dataclass(frozen=True, slots=True)
class EpisodeReview:
    """The analysis service's view of a persona's call: how the Say Meter moved and what the audit found."""

    say_meter_scores: tuple[int, ...]  # the live readings, in call order
    final_say_meter: int | None  # the whole call's reading, if there was one
    audit: str  # "audits/{audit_id}"
    overall_score: float
    flags: tuple[EpisodeFlag, ...]  # worst first


@dataclass(frozen=True, slots=True)
class Episode:
    persona_id: str
    candidate_id: str
    session_id: str
    summary: str
    outcome: str
    document: str  # what recall searches: the summary and the call's turns
    create_time: datetime
    review: EpisodeReview | None = None  # None until the analysis service has reviewed the call

    @property
    def resource_name(self) -> str:
        return f"personas/{self.persona_id}/candidates/{self.candidate_id}/episodes/{self.session_id}"


_NAME = re.compile(r"^personas/([^/]+)/candidates/([^/]+)/episodes/([^/]+)$")


def episode_of(name: str, field_path: str) -> tuple[str, str, str]:
    """The persona, candidate and session an episode's resource name names."""
    match = _NAME.match(name)
    if match is None or not all(valid_id(part) for part in match.groups()):
        raise InvalidArgument(FieldViolation(field_path, "must be a resource name like 'personas/{persona}/candidates/"
                                                         f"{{candidate}}/episodes/{{session}}' (got {name[:100]!r})"))
    return match.group(1), match.group(2), match.group(3)


_SUMMARY_LINES = ((FactKind.COMMITMENT, "Promised"), (FactKind.OBJECTION, "Objected"),
                  (FactKind.DISCLOSURE, "Disclosed"), (FactKind.CANDIDATE_FACT, "Stated"))


def outcome_of(facts: list[ExtractedFact]) -> str:
    kinds = {fact.kind for fact in facts}
    objections = [fact for fact in facts if fact.kind is FactKind.OBJECTION]
    if FactKind.COMMITMENT in kinds:
        return "commitment"
    if any(fact.outcome is ObjectionOutcome.OPEN for fact in objections):
        return "objection left open"
    return "objections handled" if objections else "no commitment"


def summary_of(turns: list[Turn], facts: list[ExtractedFact]) -> str:
    """The first fact of each kind, most telling first; the opening turns when no fact was found."""
    lines = [f"{label}: {next(f.text for f in facts if f.kind is kind)}"
             for kind, label in _SUMMARY_LINES if any(f.kind is kind for f in facts)]
    if not lines:
        lines = [turn.text for turn in turns[:2]]
    return "\n".join(lines)[:MAX_SUMMARY_CHARS]


def document_of(summary: str, turns: list[Turn]) -> str:
    return " ".join([summary, *(turn.text for turn in turns)])[:MAX_DOCUMENT_CHARS]


def check_recall(context: str, page_size: int) -> int:
    """The number of episodes to recall; a context that is empty or too long, or a bad size, is refused."""
    violations = Violations()
    violations.require(0 < len(context.strip()) and len(context) <= MAX_CONTEXT_CHARS, "context",
                       f"must be 1 to {MAX_CONTEXT_CHARS} characters")
    violations.require(0 <= page_size <= MAX_RECALLED, "page_size", f"must be 0 to {MAX_RECALLED}")
    violations.raise_if_any()
    return page_size or DEFAULT_RECALLED


def check_review(review: EpisodeReview) -> None:
    """A review within its bounds, or INVALID_ARGUMENT naming every field that is not."""
    violations = Violations()
    violations.require(len(review.say_meter_scores) <= MAX_ARC_READINGS, "say_meter.scores",
                       f"must hold at most {MAX_ARC_READINGS} readings")
    violations.require(all(0 <= score <= 100 for score in review.say_meter_scores), "say_meter.scores",
                       "must be scores of 0 to 100")
    violations.require(review.final_say_meter is None or 0 <= review.final_say_meter <= 100,
                       "say_meter.final_score", "must be 0 to 100")
    violations.require(1.0 <= review.overall_score <= 10.0, "audit.overall_score", "must be 1.0 to 10.0")
    violations.require(len(review.flags) <= MAX_REVIEW_FLAGS, "audit.flags",
                       f"must hold at most {MAX_REVIEW_FLAGS} flags")
    violations.require(all(flag.message_sequence > 0 for flag in review.flags), "audit.flags",
                       "must each name a message sequence above 0")
    violations.raise_if_any()
