"""Handoffs of a live call from one persona to another, and the packet the new persona receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from svckit.errors import Violations
from transcript_svc.domain.voice_rounds import AgentGrant

if TYPE_CHECKING:  # the session model names Handoff in its commands
    from transcript_svc.domain.model import Message

# The outbox kind asking the analysis service for a reading as the new persona takes over, for the call's watchers.
HANDOFF_KIND = "handoff"
MAX_REASON_CHARS = 500
MAX_PREFERENCES = 20
MAX_PREFERENCE_CHARS = 200
MAX_FALLBACKS = 5
# The last turns of the call the packet's summary retells, and how much of each.
SUMMARY_TURNS = 8
SUMMARY_TURN_CHARS = 300
_SPEAKERS = {"user": "Candidate", "assistant": "Persona"}


class HandoffState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    FAILED = "failed"
    AWAITING_APPROVAL = "awaiting_approval"  # held by the safety policy: nothing sent, the persona unchanged


# A handoff that blocks another from starting: not yet accepted by the gateway, or not yet approved.
UNSETTLED_STATES = (HandoffState.PENDING, HandoffState.AWAITING_APPROVAL)


class PendingActionKind(StrEnum):
    COMMAND = "command"
    COMMITMENT = "commitment"


@dataclass(frozen=True, slots=True)
class PendingAction:
    kind: PendingActionKind
    text: str
    source: str


@dataclass(frozen=True, slots=True)
class HandoffVoice:
    """The new persona's voice agent a handoff moves a live voice call to: the round it opened and how the gateway
    connects to it."""

    round_number: int
    grant: AgentGrant


@dataclass(frozen=True, slots=True)
class Handoff:
    """A handoff and its packet; ``first_sequence`` is 0 until the gateway accepts it."""

    session_id: str
    id: str
    from_persona: str
    to_persona: str
    accepted_persona: str
    reason: str
    conversation_summary: str
    active_goals: tuple[str, ...]
    working_memory: dict[str, str]
    candidate_preferences: tuple[str, ...]
    pending_actions: tuple[PendingAction, ...]
    state: HandoffState
    command_id: str
    system_prompt: str
    first_message: str
    create_time: datetime
    update_time: datetime
    first_sequence: int = 0
    voice: HandoffVoice | None = None  # None when the session had no live voice round
    failure_reason: str = ""
    approval: str = ""  # the approval it waits, or waited, for; '' when the policy let it through at once

    @property
    def resource_name(self) -> str:
        return f"sessions/{self.session_id}/handoffs/{self.id}"


@dataclass(frozen=True, slots=True)
class HandoffRequest:
    """What the caller asks for; the rest of the packet is gathered from the call."""

    to_persona: str
    reason: str
    candidate_preferences: list[str] = field(default_factory=list)
    fallback_personas: list[str] = field(default_factory=list)


def check_handoff_request(request: HandoffRequest, violations: Violations) -> None:
    if not request.to_persona:
        violations.add("handoff.to_persona", "is required: 'personas/{persona_id}'")
    if not request.reason.strip():
        violations.add("handoff.reason", "is required")
    elif len(request.reason) > MAX_REASON_CHARS:
        violations.add("handoff.reason", f"must be at most {MAX_REASON_CHARS} characters (got {len(request.reason)})")
    if len(request.candidate_preferences) > MAX_PREFERENCES:
        violations.add("handoff.candidate_preferences", f"must hold at most {MAX_PREFERENCES} items")
    for index, preference in enumerate(request.candidate_preferences):
        if not preference.strip() or len(preference) > MAX_PREFERENCE_CHARS:
            violations.add(f"handoff.candidate_preferences[{index}]",
                           f"must be 1 to {MAX_PREFERENCE_CHARS} characters")
    if len(request.fallback_personas) > MAX_FALLBACKS:
        violations.add("fallback_personas", f"must hold at most {MAX_FALLBACKS} personas")
    for index, text in enumerate([request.reason, *request.candidate_preferences]):
        if "\x00" in text:
            violations.add("handoff.reason" if index == 0 else f"handoff.candidate_preferences[{index - 1}]",
                           "must not contain NUL characters")


def summarize(messages: list[Message]) -> str:
    """The last turns of the call, one line each, as the new persona reads them."""
    lines = []
    for message in messages[-SUMMARY_TURNS:]:
        text = " ".join(message.text.split())
        if len(text) > SUMMARY_TURN_CHARS:
            text = text[:SUMMARY_TURN_CHARS - 1] + "…"
        lines.append(f"{_SPEAKERS[message.role.value]} (#{message.sequence}): {text}")
    return "\n".join(lines)


def fold_into_prompt(system_prompt: str, handoff: Handoff, from_name: str) -> str:
    """The new persona's system prompt with the packet as its last section, so it picks the call up mid-way."""
    lines = ["", "## Handoff", f"You are taking over this live call from {from_name}. Reason: {handoff.reason}"]
    if handoff.conversation_summary:
        lines += ["The call so far (latest turns):", handoff.conversation_summary]
    if handoff.active_goals:
        lines += ["Goals still open:", *(f"- {goal}" for goal in handoff.active_goals)]
    if handoff.working_memory:
        lines += ["Notes handed over:", *(f"- {key}: {value}" for key, value in sorted(handoff.working_memory.items()))]
    if handoff.candidate_preferences:
        lines += ["The candidate prefers:", *(f"- {preference}" for preference in handoff.candidate_preferences)]
    if handoff.pending_actions:
        lines += ["Still pending:", *(f"- ({action.kind.value}) {action.text}" for action in handoff.pending_actions)]
    lines.append("Do not repeat questions already answered above; continue from where the call is.")
    return system_prompt.rstrip() + "\n" + "\n".join(lines)


def handoff_first_message(first_message: str, new_name: str, from_name: str, reason: str) -> str:
    """What the new persona says first: it introduces itself as joining the call, then its own opening line."""
    opening = f"Hi, {new_name} here, joining from {from_name}'s side: {reason.rstrip('.')}."
    return f"{opening} {first_message}".strip()
