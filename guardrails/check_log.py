"""The guardrail check log: one record of every check a persona's safety policy made on a live call.

A record holds what was stored, never what was said before personal data was handled, so the log does not undo
the protection it records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from guardrails.actions import Refusal, RefusalKind

# A logged input is bounded: an utterance is at most 4000 characters, a command's text less.
MAX_INPUT_CHARACTERS = 4000


class CheckKind(StrEnum):
    PREFLIGHT = "preflight"
    APPROVAL = "approval"
    PII = "pii"
    OUTPUT_FILTER = "output_filter"
    RISK = "risk"
    INPUT_FILTER = "input_filter"
    TOKEN_LIMIT = "token_limit"


class CheckDecision(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    PENDING_APPROVAL = "pending_approval"
    RATE_LIMITED = "rate_limited"
    APPROVED = "approved"
    REJECTED = "rejected"
    ESCALATED = "escalated"
    EXPIRED = "expired"
    PII_HANDLED = "pii_handled"
    BLOCKED = "blocked"
    FLAGGED = "flagged"
    ALERTED = "alerted"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Finding:
    """What one check decided, by which rule, before it is placed in a session."""

    kind: CheckKind
    decision: CheckDecision
    rule: str


# The conversation passed the policy's token limit (``guardrails.tokens``).
TOKEN_LIMIT_PASSED = Finding(CheckKind.TOKEN_LIMIT, CheckDecision.RATE_LIMITED, "rate_limits.tokens_per_conversation")

_PREFLIGHT_DECISIONS = {RefusalKind.DENIED: CheckDecision.DENIED,
                        RefusalKind.APPROVAL_REQUIRED: CheckDecision.PENDING_APPROVAL,
                        RefusalKind.RATE_LIMITED: CheckDecision.RATE_LIMITED}


def preflight_finding(refusal: Refusal | None) -> Finding:
    """What a command's pre-flight check decided: allowed (no refusal), or the refusal's kind and rule."""
    if refusal is None:
        return Finding(CheckKind.PREFLIGHT, CheckDecision.ALLOWED, "allowed_actions")
    return Finding(CheckKind.PREFLIGHT, _PREFLIGHT_DECISIONS[refusal.kind], refusal.rule)


@dataclass(frozen=True, slots=True)
class CheckScope:
    """Where checks happen: a session of a persona under a policy revision, on behalf of ``actor``; the session
    alerts once its risk reaches ``alert_score`` (0: never)."""

    organization: str
    session_id: str
    persona: str
    policy: str
    policy_revision: int
    actor: str
    alert_score: int = 0

    def record(self, finding: Finding, input_text: str, subject: str, when: datetime) -> GuardrailCheck:
        return GuardrailCheck(self.organization, self.session_id, self.persona, self.policy, self.policy_revision,
                              finding.kind, finding.decision, finding.rule, input_text[:MAX_INPUT_CHARACTERS],
                              self.actor, subject, when)


@dataclass(frozen=True, slots=True)
class GuardrailCheck:
    organization: str
    session_id: str
    persona: str
    policy: str
    policy_revision: int
    kind: CheckKind
    decision: CheckDecision
    rule: str
    input: str
    actor: str
    subject: str  # "sessions/{s}/commands/{c}" or "sessions/{s}/messages/{sequence}"
    create_time: datetime
    id: int = 0  # given by the database

    @property
    def resource_name(self) -> str:
        return f"sessions/{self.session_id}/guardrailChecks/{self.id}"

    def scope(self, alert_score: int) -> CheckScope:
        """The scope this check was made in, alerting from ``alert_score``."""
        return CheckScope(self.organization, self.session_id, self.persona, self.policy, self.policy_revision,
                          self.actor, alert_score)
