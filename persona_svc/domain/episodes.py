"""Episodic memory: an ended session as the persona remembers it, and how episodes are ranked against a context."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from calls.turns import Turn
from persona_svc.domain.facts import ExtractedFact, FactKind, ObjectionOutcome
from svckit.errors import Violations

MAX_SUMMARY_CHARS = 600
MAX_DOCUMENT_CHARS = 8_000
MAX_CONTEXT_CHARS = 2_000
DEFAULT_RECALLED, MAX_RECALLED = 5, 20


class EpisodeRanking(StrEnum):
    FULL_TEXT = "full_text"
    TRIGRAM = "trigram"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True)
class Episode:
    persona_id: str
    candidate_id: str
    session_id: str
    summary: str
    outcome: str
    document: str  # what recall searches: the summary and the call's turns
    create_time: datetime

    @property
    def resource_name(self) -> str:
        return f"personas/{self.persona_id}/candidates/{self.candidate_id}/episodes/{self.session_id}"


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
