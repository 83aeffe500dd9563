"""A session's risk: a score from 0 to 100 of what its guardrail checks saw, kept as the checks happen.

Each check adds the points of its kind and decision (``RISK_POINTS``), up to 100; checks that let things through
(allowed, approved, held for approval) add nothing. The score does not decay: a call lasts minutes, and what
happened early in it (a threat, a card number) is still what an interviewer must know about at the end. The policy's
thresholds are fractions of 100: from ``risk_threshold`` a session is at risk, and the first check that takes it to
``escalation_threshold`` or above raises one alert; a policy without an escalation threshold (0) never alerts.
"""

from __future__ import annotations

from collections.abc import Iterable

from guardrails.check_log import CheckDecision, CheckKind, Finding, GuardrailCheck

MAX_RISK = 100

RISK_POINTS: dict[tuple[CheckKind, CheckDecision], int] = {
    # The interviewer's side: a command the policy refuses is a deliberate step past it.
    (CheckKind.PREFLIGHT, CheckDecision.DENIED): 10,
    (CheckKind.PREFLIGHT, CheckDecision.RATE_LIMITED): 5,
    (CheckKind.APPROVAL, CheckDecision.REJECTED): 10,
    (CheckKind.APPROVAL, CheckDecision.ESCALATED): 5,
    (CheckKind.APPROVAL, CheckDecision.EXPIRED): 5,
    # The candidate's personal data said on the call (handled, but said).
    (CheckKind.PII, CheckDecision.PII_HANDLED): 5,
    # The persona's own turns: flagged ones were heard; blocked ones were generated.
    (CheckKind.OUTPUT_FILTER, CheckDecision.FLAGGED): 10,
    (CheckKind.OUTPUT_FILTER, CheckDecision.BLOCKED): 20,
    # The candidate's messages an input filter matched (the analysis service's readings).
    (CheckKind.INPUT_FILTER, CheckDecision.FLAGGED): 10,
    (CheckKind.INPUT_FILTER, CheckDecision.BLOCKED): 20,
    # A conversation past its token budget is ended: worth the interviewer's notice, not more.
    (CheckKind.TOKEN_LIMIT, CheckDecision.RATE_LIMITED): 10,
}


def risk_points(findings: Iterable[Finding | GuardrailCheck]) -> int:
    return sum(RISK_POINTS.get((finding.kind, finding.decision), 0) for finding in findings)


def threshold_score(threshold: float) -> int:
    """The score a policy's threshold (a fraction of 100) stands for; 0: the policy has none."""
    return max(1, round(threshold * MAX_RISK)) if threshold > 0 else 0


def alert_score(escalation_threshold: float) -> int:
    """The score from which a session alerts under a policy's ``escalation_threshold`` (0 to 1); 0: never."""
    return threshold_score(escalation_threshold)


def at_risk(score: int, risk_threshold: float) -> bool:
    """Whether a session of this score is shown as at risk under a policy's ``risk_threshold`` (0 to 1; 0: never)."""
    from_score = threshold_score(risk_threshold)
    return 0 < from_score <= score
