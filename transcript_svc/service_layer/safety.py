"""The persona's safety policy on the live path: read as ports say, and its pre-flight refusals as domain errors."""

from __future__ import annotations

from typing import Protocol

from prometheus_client import Counter, Histogram

from guardrails.actions import Refusal, RefusalKind, SafetyAction
from guardrails.policy import LivePolicy
from svckit.errors import DomainError, FailedPrecondition, ResourceExhausted

PREFLIGHT_SECONDS = Histogram(
    "sparring_transcript_preflight_seconds",
    "Time the pre-flight check adds to a command: reading the policy (cached) and counting recent commands.",
    buckets=(0.0002, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.05, 0.25))
PREFLIGHT_REFUSALS = Counter("sparring_transcript_preflight_refusals_total",
                             "Commands the persona's safety policy refused, by reason.", ("reason",))
APPROVALS = Counter("sparring_transcript_approvals_total",
                    "Approvals of held commands, by outcome: requested, approved, rejected, escalated, expired, "
                    "refused (the session ended first).", ("outcome",))


class SafetyPolicies(Protocol):
    """What a persona's calls apply of its safety policy; never fails (the safe default when it cannot be read)."""

    async def in_force(self, organization: str, persona: str) -> LivePolicy: ...


def refusal_error(refusal: Refusal, action: SafetyAction, policy: LivePolicy) -> DomainError:
    """The status a refused command gets: the rule that refused it and the policy it belongs to named, and for a
    rate limit when to try again."""
    PREFLIGHT_REFUSALS.labels(refusal.reason).inc()
    metadata = {"rule": refusal.rule, "action": action.name, "policy": policy.name or "safe default",
                "policy_revision": str(policy.revision)}
    message = f"{refusal.message} ({refusal.rule} of {policy.name or 'the safe default policy'})"
    if refusal.kind is RefusalKind.RATE_LIMITED:
        return ResourceExhausted(message, reason=refusal.reason, metadata=metadata, retry_after=refusal.retry_after)
    return FailedPrecondition(message, reason=refusal.reason, metadata=metadata)
