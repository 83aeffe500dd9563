"""Approvals: a command the persona's safety policy holds until a person approves or rejects it, or it expires."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from guardrails.check_log import CheckDecision, CheckKind, CheckScope, Finding, GuardrailCheck
from transcript_svc.domain.model import Command, CommandState, CommandType

MAX_DECISION_REASON_CHARS = 500
# Why the approvals still pending when their session ends are refused.
SESSION_ENDED_REASON = "session ended"
# How long an approval waits for a decision, at first and at each step of its escalation.
DEFAULT_APPROVAL_TTL = timedelta(minutes=2)


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    REFUSED = "refused"  # its session ended first


@dataclass(frozen=True, slots=True)
class HeldHandoff:
    """What a handoff waiting for an approval would do."""

    handoff: str  # its resource name
    from_persona: str
    to_persona: str  # the persona that takes the call once approved
    reason: str


@dataclass(frozen=True, slots=True)
class Approval:
    session_id: str
    id: str  # the command's id
    action: CommandType
    requester: str
    rule: str
    policy: str
    policy_revision: int
    state: ApprovalState
    create_time: datetime
    expire_time: datetime
    decider: str = ""
    decide_time: datetime | None = None
    decision_reason: str = ""
    escalated_to: str = ""
    handoff: HeldHandoff | None = None  # set when the action is a HANDOFF

    @property
    def resource_name(self) -> str:
        return approval_name(self.session_id, self.id)

    @property
    def command_name(self) -> str:
        return f"sessions/{self.session_id}/commands/{self.id}"


def approval_name(session_id: str, command_id: str) -> str:
    return f"sessions/{session_id}/approvals/{command_id}"


def held_for_approval(command: Command, rule: str, policy: str, policy_revision: int, requester: str,
                      ttl: timedelta) -> tuple[Command, Approval]:
    """The command as stored while it waits, and the approval it waits for (same id)."""
    approval = Approval(
        session_id=command.session_id, id=command.id, action=command.type, requester=requester, rule=rule,
        policy=policy, policy_revision=policy_revision, state=ApprovalState.PENDING,
        create_time=command.create_time, expire_time=command.create_time + ttl)
    held = dataclasses.replace(command, state=CommandState.AWAITING_APPROVAL, approval=approval.resource_name)
    return held, approval


def why_not_approved(approval: Approval) -> str:
    """Why the action an approval held was not taken (rejected, expired, or refused as its session ended)."""
    if approval.state is ApprovalState.EXPIRED:
        return "its approval expired: nobody decided it at any step of the escalation path"
    by = f" by {approval.decider}" if approval.decider else ""
    said = f": {approval.decision_reason}" if approval.decision_reason else ""
    return f"its approval was {approval.state.value}{by}{said}"


def next_escalation(path: tuple[str, ...], current: str) -> str:
    """The step of ``path`` after ``current`` (the first if the approval has not escalated, or its step is no longer
    on the path); '' past the last one."""
    if not current:
        index = 0
    elif current in path:
        index = path.index(current) + 1
    else:
        index = len(path)  # the policy no longer has that step: nobody is left to hand it to
    return path[index] if index < len(path) else ""


def approval_check(organization: str, persona: str, approval: Approval, actor: str, when: datetime) -> GuardrailCheck:
    """The check log's record of an approval decided, escalated (still pending, handed to ``escalated_to``), expired,
    or refused as its session ended."""
    if approval.state is ApprovalState.PENDING:
        finding = Finding(CheckKind.APPROVAL, CheckDecision.ESCALATED, "escalation_path")
        said = f"{approval.action.name} to {approval.escalated_to}"
    else:
        rule = "escalation_path" if approval.state is ApprovalState.EXPIRED else approval.rule
        finding = Finding(CheckKind.APPROVAL, CheckDecision(approval.state.value), rule)
        said = f"{approval.action.name}: {approval.decision_reason}" if approval.decision_reason \
            else approval.action.name
    scope = CheckScope(organization, approval.session_id, persona, approval.policy, approval.policy_revision, actor)
    return scope.record(finding, said, approval.command_name, when)
