"""Interview sessions, their messages and the interviewer's commands, as plain data with their rules."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum

from svckit.errors import Violations
from transcript_svc.domain.handoff import Handoff

MAX_TEXT_CHARS = 4000
MAX_COMMAND_TEXT_CHARS = 2000
MAX_LABEL_CHARS = 100
DEFAULT_ANALYSIS_INTERVAL = 10
MAX_ANALYSIS_INTERVAL = 1000
MAX_SUBJECT_CHARS = 200


class SessionState(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


class CommandType(StrEnum):
    CONTEXT_INJECTION = "context_injection"
    CURVEBALL = "curveball"
    DIFFICULTY_CHANGE = "difficulty_change"
    HANDOFF = "handoff"
    END_CALL = "end_call"  # from the safety policy only (its token limit), never from SendCommand


class CommandSource(StrEnum):
    MANUAL = "manual"
    AI_SUGGESTED = "ai_suggested"
    SAFETY_POLICY = "safety_policy"  # the policy's own END_CALL past its token limit; never from callers


class CommandState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"
    AWAITING_APPROVAL = "awaiting_approval"  # held until a person decides; not sent
    REFUSED = "refused"  # its approval was rejected or expired; never sent


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    persona: str
    scenario: str
    blueprint: str
    round_number: int
    state: SessionState
    persona_revision: int
    analysis_interval: int
    start_time: datetime
    end_time: datetime | None
    end_reason: str
    last_sequence: int
    revision: int
    update_time: datetime
    organization: str = ""
    interviewer: str = ""  # the subject who created it
    gateway: str = ""  # the subject of the gateway that streams it; '' until one is assigned
    candidate: str = ""  # "candidates/{id}", whose memory the persona keeps; '' for none
    current_persona: str = ""  # the persona a handoff gave the call to; '' while it is ``persona``
    experiment: str = ""  # "experiments/{id}" that assigned the session a variant; '' for none (control)
    experiment_variant: str = ""
    risk_score: int = 0  # 0 to 100: what its guardrail checks saw (guardrails.risk)
    risk_alert_time: datetime | None = None  # when the score reached the policy's escalation threshold

    @property
    def playing_persona(self) -> str:
        return self.current_persona or self.persona

    @property
    def resource_name(self) -> str:
        return f"sessions/{self.id}"

    def is_participant(self, subject: str) -> bool:
        return bool(subject) and subject in (self.interviewer, self.gateway)

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'


@dataclass(frozen=True, slots=True)
class ExperimentVariant:
    """The variant a learning-service experiment assigned a new session."""

    experiment: str  # "experiments/{id}"
    variant_id: str


@dataclass(frozen=True, slots=True)
class MessageFlag:
    """An output filter that matched a persona turn: blocked (stored as its marker) or flagged (stored as said)."""

    rule: str
    blocked: bool


@dataclass(frozen=True, slots=True)
class Utterance:
    sequence: int
    role: Role
    text: str
    spoken_time: datetime
    flags: tuple[MessageFlag, ...] = ()  # what the persona's output filters found, stored with it

    @property
    def word_count(self) -> int:
        return len(self.text.split())


class Outcome(Enum):
    """What became of an utterance handed to the group commit."""

    STORED = "stored"
    DUPLICATE = "duplicate"  # already stored with the same role and text
    CONFLICT = "conflict"  # already stored with another role or text
    GAP = "gap"  # not stored: an earlier sequence of the session is not stored


@dataclass(frozen=True, slots=True)
class Message:
    session_id: str
    sequence: int
    role: Role
    text: str
    spoken_time: datetime
    word_count: int
    create_time: datetime
    flags: tuple[MessageFlag, ...] = ()


@dataclass(frozen=True, slots=True)
class Command:
    session_id: str
    id: str
    type: CommandType
    text: str
    label: str
    new_difficulty: int
    source: CommandSource
    suggestion: str
    state: CommandState
    delivery_count: int
    create_time: datetime
    deliver_time: datetime | None = None
    acknowledge_time: datetime | None = None
    handoff: Handoff | None = None  # the packet a HANDOFF command carries
    approval: str = ""  # the approval's resource name, when the safety policy held the command for one

    @property
    def resource_name(self) -> str:
        return f"sessions/{self.session_id}/commands/{self.id}"


def check_utterance_text(text: str, violations: Violations, field: str = "utterance.text") -> None:
    if not text.strip():
        violations.add(field, "must not be empty")
    elif len(text) > MAX_TEXT_CHARS:
        violations.add(field, f"must be at most {MAX_TEXT_CHARS} characters (got {len(text)})")
    elif "\x00" in text:
        violations.add(field, "must not contain NUL characters")


def check_command(command: Command, violations: Violations, prefix: str = "command") -> None:
    needs_text = command.type in (CommandType.CONTEXT_INJECTION, CommandType.CURVEBALL)
    if needs_text and not command.text.strip():
        violations.add(f"{prefix}.text", f"is required for {command.type.name}")
    if len(command.text) > MAX_COMMAND_TEXT_CHARS:
        violations.add(f"{prefix}.text", f"must be at most {MAX_COMMAND_TEXT_CHARS} characters")
    if len(command.label) > MAX_LABEL_CHARS:
        violations.add(f"{prefix}.label", f"must be at most {MAX_LABEL_CHARS} characters")
    for field, value in ((f"{prefix}.text", command.text), (f"{prefix}.label", command.label)):
        if "\x00" in value:
            violations.add(field, "must not contain NUL characters")
    if command.type is CommandType.DIFFICULTY_CHANGE:
        if not 1 <= command.new_difficulty <= 5:
            violations.add(f"{prefix}.new_difficulty", f"must be 1 to 5 for DIFFICULTY_CHANGE "
                                                       f"(got {command.new_difficulty})")
    elif command.new_difficulty:
        violations.add(f"{prefix}.new_difficulty", "must be 0 unless the type is DIFFICULTY_CHANGE")
    if command.source is CommandSource.AI_SUGGESTED and not command.suggestion:
        violations.add(f"{prefix}.suggestion", "is required for AI_SUGGESTED commands")


def check_gateway_subject(gateway: str, violations: Violations, field: str = "session.gateway") -> None:
    if len(gateway) > MAX_SUBJECT_CHARS:
        violations.add(field, f"must be at most {MAX_SUBJECT_CHARS} characters (got {len(gateway)})")
    if any(unicodedata.category(character).startswith("C") for character in gateway):
        violations.add(field, "must not contain control characters")


# The interviewer's first reading comes after a couple of exchanges rather than a whole interval into the call, when
# the interval leaves room for it (a short call of fewer messages than the interval still gets a reading).
FIRST_READING = 4


def analysis_due(previous_last: int, new_last: int, interval: int) -> list[int]:
    """The sequences at which an analysis falls due when the durable record grows from one to the other: every
    multiple of the interval, and FIRST_READING when the interval is at least twice as long."""
    first = (previous_last // interval + 1) * interval
    early = [FIRST_READING] if interval >= 2 * FIRST_READING and previous_last < FIRST_READING <= new_last else []
    return early + list(range(first, new_last + 1, interval))


# The outbox kind asking the analysis service for an ended session's audit (every other kind it is sent is a reading).
AUDIT_KIND = "audit"
# The outbox kind carrying a session's new risk score to the analysis service's watchers (its up_to_sequence: the
# score, so each score is delivered once).
RISK_KIND = "risk"
