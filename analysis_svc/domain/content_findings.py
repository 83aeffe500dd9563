"""What the persona's input filters find in the candidate's messages of a live call (for the HR track: questions a
hiring manager may not legally ask), and the suggestion each finding becomes for the interviewer."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from analysis_svc.domain.suggestions import Priority, Suggestion, SuggestionType
from calls.turns import Role, Turn
from guardrails.filters import ContentFilter, FilterCategory, FilterDecision, screen

MAX_QUOTE_CHARACTERS = 200


@dataclass(frozen=True, slots=True)
class ContentFinding:
    rule: str
    category: FilterCategory
    decision: FilterDecision
    topic: str
    message_sequence: int
    quote: str

    def to_record(self) -> dict[str, Any]:
        return {"rule": self.rule, "category": self.category.value, "decision": self.decision.value,
                "topic": self.topic, "message_sequence": self.message_sequence, "quote": self.quote}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ContentFinding:
        return cls(record["rule"], FilterCategory(record["category"]), FilterDecision(record["decision"]),
                   record["topic"], record["message_sequence"], record["quote"])


def unscreened_candidate_turns(turns: Iterable[Turn], after_sequence: int) -> tuple[Turn, ...]:
    """The candidate's turns after ``after_sequence`` (those before were screened by an earlier reading)."""
    return tuple(turn for turn in turns if turn.role == Role.USER and turn.sequence > after_sequence)


def rule_findings(turns: Iterable[Turn], filters: tuple[ContentFilter, ...]) -> tuple[ContentFinding, ...]:
    """What the rules of ``filters`` find in ``turns``, in call order."""
    return tuple(ContentFinding(hit.rule, hit.category, hit.decision, hit.topic, turn.sequence,
                                turn.text[hit.start:hit.end][:MAX_QUOTE_CHARACTERS])
                 for turn in turns for hit in screen(turn.text, filters))


def merged(rules: tuple[ContentFinding, ...], model: tuple[ContentFinding, ...]) -> tuple[ContentFinding, ...]:
    """The rules' findings and the model's, one per message and rule (the rule's, whose words are exact, when
    both found it), in call order."""
    found = {(finding.message_sequence, finding.rule): finding for finding in model}
    found.update({(finding.message_sequence, finding.rule): finding for finding in rules})
    return tuple(sorted(found.values(), key=lambda finding: finding.message_sequence))


def finding_suggestion(finding: ContentFinding) -> Suggestion:
    """A finding told to the interviewer, citing the message: shown to them, not applied to the call."""
    if finding.category == FilterCategory.ILLEGAL_INTERVIEW_QUESTIONS:
        label = f"Illegal interview question: {finding.topic}"
        text = (f"In message {finding.message_sequence} the candidate asked about {finding.topic} "
                f"(\"{finding.quote}\"), which a hiring manager may not legally ask. Raise it with them.")
    else:
        label = f"Content filter: {finding.rule}"
        text = (f"Message {finding.message_sequence} matched the {finding.rule} filter (\"{finding.quote}\"). "
                "Raise it with the candidate.")
    return Suggestion(SuggestionType.FOLLOWUP_QUESTION, text, Priority.HIGH, label[:100])
