"""What a safety policy says about actions on a live call, and the check every command passes before it is taken:
allowed, refused by a rule, waiting for a person's approval, or beyond a rate limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class SafetyAction(StrEnum):
    CONTEXT_INJECTION = "context_injection"
    CURVEBALL = "curveball"
    DIFFICULTY_CHANGE = "difficulty_change"
    HANDOFF = "handoff"
    END_CALL = "end_call"
    PERSONA_TURN = "persona_turn"


RATE_WINDOW = timedelta(minutes=1)
# The limits of every blueprint's default policy: a command every ten seconds on average, five between two
# turns of the candidate (a hint, a curveball, a change of difficulty and the suggestions applied with them);
# an interviewer firing curveballs faster than a candidate can answer them is refused.
DEFAULT_ACTIONS_PER_MINUTE = 6
DEFAULT_COMMANDS_PER_TURN = 5
# Roles a policy may let approve its pending actions, besides admins and the persona's owners (gateways and
# services are not people).
APPROVER_ROLES = ("author", "interviewer", "analyst")
# A limit per turn lifts when the candidate speaks again; a client is told to try again after this.
TURN_RETRY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class ActionRules:
    """Empty ``allowed``: every action not blocked. Zero limits: no limit."""

    allowed: tuple[SafetyAction, ...] = ()
    blocked: tuple[SafetyAction, ...] = ()
    needs_approval: tuple[SafetyAction, ...] = ()
    actions_per_minute: int = DEFAULT_ACTIONS_PER_MINUTE
    commands_per_turn: int = DEFAULT_COMMANDS_PER_TURN


@dataclass(frozen=True, slots=True)
class RecentCommands:
    """A session's commands that count against its limits."""

    in_window: int  # created within RATE_WINDOW before now
    oldest_in_window: datetime | None
    since_candidate_turn: int  # created since the candidate last spoke


class RefusalKind(StrEnum):
    DENIED = "denied"  # the policy does not allow the action
    APPROVAL_REQUIRED = "approval_required"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class Refusal:
    kind: RefusalKind
    reason: str  # UPPER_SNAKE
    rule: str  # the policy field that refuses it
    message: str
    retry_after: float | None = None


def preflight(action: SafetyAction, rules: ActionRules, recent: RecentCommands, now: datetime) -> Refusal | None:
    """None if the policy lets ``action`` be taken now; else why not."""
    name = action.name
    if action in rules.blocked:
        return Refusal(RefusalKind.DENIED, "ACTION_BLOCKED", "blocked_actions", f"{name} is blocked by the policy")
    if rules.allowed and action not in rules.allowed:
        return Refusal(RefusalKind.DENIED, "ACTION_NOT_ALLOWED", "allowed_actions",
                       f"{name} is not among the policy's allowed actions")
    if action in rules.needs_approval:
        return Refusal(RefusalKind.APPROVAL_REQUIRED, "APPROVAL_REQUIRED", "approval_actions",
                       f"{name} needs a person's approval under the policy")
    if rules.actions_per_minute and recent.in_window >= rules.actions_per_minute:
        oldest = recent.oldest_in_window or now
        wait = max((oldest + RATE_WINDOW - now).total_seconds(), 0.001)
        return Refusal(RefusalKind.RATE_LIMITED, "ACTIONS_PER_MINUTE_EXCEEDED", "rate_limits.actions_per_minute",
                       f"{recent.in_window} commands in the last minute; the policy allows "
                       f"{rules.actions_per_minute}", wait)
    if rules.commands_per_turn and recent.since_candidate_turn >= rules.commands_per_turn:
        return Refusal(RefusalKind.RATE_LIMITED, "COMMANDS_PER_TURN_EXCEEDED", "rate_limits.commands_per_turn",
                       f"{recent.since_candidate_turn} commands since the candidate last spoke; the policy allows "
                       f"{rules.commands_per_turn} a turn", TURN_RETRY_SECONDS)
    return None

