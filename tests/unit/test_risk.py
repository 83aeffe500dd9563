"""A session's risk points by what its checks decided, and the score its policy alerts from."""

from __future__ import annotations

from guardrails.check_log import CheckDecision, CheckKind, Finding
from guardrails.risk import alert_score, risk_points


def test_checks_that_let_things_through_add_no_risk_and_the_others_add_their_points():
    assert risk_points([Finding(CheckKind.PREFLIGHT, CheckDecision.ALLOWED, "allowed_actions"),
                        Finding(CheckKind.PREFLIGHT, CheckDecision.PENDING_APPROVAL, "approval_actions"),
                        Finding(CheckKind.APPROVAL, CheckDecision.APPROVED, "approval_actions")]) == 0
    assert risk_points([Finding(CheckKind.PII, CheckDecision.PII_HANDLED, "EMAIL:mask"),
                        Finding(CheckKind.OUTPUT_FILTER, CheckDecision.BLOCKED, "threats")]) == 25


def test_a_policy_alerts_from_its_escalation_threshold_as_a_score_and_never_without_one():
    assert alert_score(0.8) == 80
    assert alert_score(0.001) == 1
    assert alert_score(0.0) == 0
