"""The pre-flight check of a command against a policy's rules, in the order a refusal names them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from guardrails.actions import ActionRules, RecentCommands, RefusalKind, SafetyAction, preflight

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
QUIET = RecentCommands(in_window=0, oldest_in_window=None, since_candidate_turn=0)
CURVEBALL = SafetyAction.CURVEBALL


def test_an_action_within_the_rules_is_taken():
    assert preflight(CURVEBALL, ActionRules(), QUIET, NOW) is None
    assert preflight(CURVEBALL, ActionRules(actions_per_minute=0, commands_per_turn=0),
                     RecentCommands(500, NOW, 500), NOW) is None, "zero is no limit"


@pytest.mark.parametrize("rules, reason, rule", [
    (ActionRules(blocked=(CURVEBALL,), needs_approval=(CURVEBALL,)), "ACTION_BLOCKED", "blocked_actions"),
    (ActionRules(allowed=(SafetyAction.CONTEXT_INJECTION,)), "ACTION_NOT_ALLOWED", "allowed_actions"),
    (ActionRules(needs_approval=(CURVEBALL,)), "APPROVAL_REQUIRED", "approval_actions"),
])
def test_a_refused_action_names_the_rule(rules, reason, rule):
    refusal = preflight(CURVEBALL, rules, QUIET, NOW)
    assert refusal is not None and (refusal.reason, refusal.rule, refusal.retry_after) == (reason, rule, None)


def test_the_limit_per_minute_says_when_the_oldest_command_leaves_the_window():
    recent = RecentCommands(in_window=6, oldest_in_window=NOW - timedelta(seconds=45), since_candidate_turn=1)
    refusal = preflight(CURVEBALL, ActionRules(), recent, NOW)
    assert refusal is not None and refusal.kind is RefusalKind.RATE_LIMITED
    assert (refusal.reason, refusal.retry_after) == ("ACTIONS_PER_MINUTE_EXCEEDED", 15.0)


def test_the_limit_per_turn_applies_between_two_turns_of_the_candidate():
    refusal = preflight(CURVEBALL, ActionRules(commands_per_turn=2), RecentCommands(2, NOW, 2), NOW)
    assert refusal is not None and refusal.reason == "COMMANDS_PER_TURN_EXCEEDED" and refusal.retry_after > 0
    assert preflight(CURVEBALL, ActionRules(commands_per_turn=2), RecentCommands(2, NOW, 1), NOW) is None
