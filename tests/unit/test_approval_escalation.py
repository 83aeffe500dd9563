"""The step an undecided approval is handed to next along its policy's escalation path."""

from __future__ import annotations

import pytest

from transcript_svc.domain.approvals import next_escalation

PATH = ("personas/backup", "queues/hiring-review")


@pytest.mark.parametrize(("current", "expected"), [
    ("", "personas/backup"),  # not escalated yet: the first step
    ("personas/backup", "queues/hiring-review"),
    ("queues/hiring-review", ""),  # past the last step: it expires
    ("queues/removed-since", ""),  # a step the policy no longer has: nobody left to hand it to
])
def test_the_next_step_follows_the_current_one(current, expected):
    assert next_escalation(PATH, current) == expected


def test_a_policy_without_a_path_lets_an_approval_expire_at_once():
    assert next_escalation((), "") == ""
