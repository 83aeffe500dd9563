"""What a live call applies of its persona's safety policy."""

from __future__ import annotations

from dataclasses import dataclass, field

from guardrails.actions import ActionRules
from guardrails.filters import DEFAULT_OUTPUT_FILTERS, ContentFilter
from guardrails.pii_policy import DEFAULT_PII_HANDLING, PiiHandling


@dataclass(frozen=True, slots=True)
class LivePolicy:
    name: str  # the policy's resource name; empty for the safe default
    revision: int = 0
    pii: PiiHandling = DEFAULT_PII_HANDLING
    actions: ActionRules = field(default_factory=ActionRules)
    input_filters: tuple[ContentFilter, ...] = ()  # screening the candidate's turns
    output_filters: tuple[ContentFilter, ...] = ()  # screening the persona's turns
    # Who takes over, in order, an approval nobody decided in time: "personas/{id}" or "queues/{id}".
    escalation_path: tuple[str, ...] = ()
    # Roles whose people may decide the persona's approvals, besides admins and the persona's owners.
    approver_roles: frozenset[str] = frozenset()
    # From this risk (0 to 1; 0: never) the session's interviewer is alerted (guardrails.risk).
    escalation_threshold: float = 0.0
    # The most words (persona's and candidate's, as stored) a conversation may hold (guardrails.tokens); 0: no limit.
    tokens_per_conversation: int = 0
    # From this risk (0 to 1; 0: never) the session is shown as at risk (guardrails.risk).
    risk_threshold: float = 0.0


# What applies while the persona's policy cannot be read: personal data protected as by default, the persona's turns
# screened as by default, and the default limits on commands (an unreachable persona service neither lifts them nor
# stops every command).
SAFE_DEFAULT = LivePolicy("", output_filters=DEFAULT_OUTPUT_FILTERS)
