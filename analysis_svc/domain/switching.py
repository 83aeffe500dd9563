"""Switching rules: when the live call should be handed to another persona, and which rule wins.

A rule's phrase or intent pattern is an RE2 expression (``google-re2``): it matches in time linear in the text,
so no pattern a rule author writes can backtrack catastrophically, and one RE2 cannot compile is refused."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import re2

from analysis_svc.domain.suggestions import CallStage
from calls.turns import Role, Turn
from svckit.errors import Violations

MAX_PATTERN_CHARS = 500
MAX_REASON_CHARS = 500
MAX_FALLBACKS = 5
MAX_PRIORITY = 100
# What RE2 may use to compile one pattern: a bound on what a rule author can make the service hold.
PATTERN_MEMORY_BYTES = 1 << 20

_OPTIONS = re2.Options()
_OPTIONS.case_sensitive = False
_OPTIONS.max_mem = PATTERN_MEMORY_BYTES
_OPTIONS.log_errors = False


@dataclass(frozen=True, slots=True)
class SwitchingRule:
    """Hands the call from ``from_persona`` ('' for any) to ``to_persona`` when every trigger it sets holds: the
    candidate's last turn matches ``pattern``, the Say Meter is below ``say_meter_below``, the call is at
    ``stage``."""

    id: str
    from_persona: str
    to_persona: str
    fallback_personas: tuple[str, ...]
    priority: int
    pattern: str
    say_meter_below: int
    stage: str  # a CallStage value; '' for any
    reason: str
    auto_apply: bool
    create_time: datetime

    @property
    def resource_name(self) -> str:
        return f"switchingRules/{self.id}"


@dataclass(frozen=True, slots=True)
class LiveMoment:
    """What the rules are evaluated on: the reading just taken."""

    persona: str  # the persona playing now
    turns: Sequence[Turn]
    say_meter: int
    stage: CallStage


def check_rule(rule: SwitchingRule, violations: Violations, prefix: str = "switching_rule") -> None:
    if not rule.to_persona:
        violations.add(f"{prefix}.to_persona", "is required: 'personas/{persona_id}'")
    elif rule.to_persona == rule.from_persona:
        violations.add(f"{prefix}.to_persona", "must differ from from_persona")
    if not (rule.pattern or rule.say_meter_below or rule.stage):
        violations.add(f"{prefix}.pattern", "a rule needs a trigger: a pattern, a say_meter_below or a stage")
    if len(rule.pattern) > MAX_PATTERN_CHARS:
        violations.add(f"{prefix}.pattern", f"must be at most {MAX_PATTERN_CHARS} characters")
    elif rule.pattern:
        try:
            _compiled(rule.pattern)
        except re2.error as error:
            violations.add(f"{prefix}.pattern", f"is no RE2 expression: {_message(error)}")
    if not 0 <= rule.say_meter_below <= 100:
        violations.add(f"{prefix}.say_meter_below", "must be 1 to 100, or 0 for no Say Meter condition")
    if not 0 <= rule.priority <= MAX_PRIORITY:
        violations.add(f"{prefix}.priority", f"must be 0 to {MAX_PRIORITY}")
    if not rule.reason.strip() or len(rule.reason) > MAX_REASON_CHARS or "\x00" in rule.reason:
        violations.add(f"{prefix}.reason", f"is required, at most {MAX_REASON_CHARS} characters")
    if len(rule.fallback_personas) > MAX_FALLBACKS:
        violations.add(f"{prefix}.fallback_personas", f"must hold at most {MAX_FALLBACKS} personas")


# Rules are evaluated at every live reading; their patterns change only with the rules, so each is compiled once.
@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re2._Regexp:
    return re2.compile(pattern, _OPTIONS)


def _message(error: re2.error) -> str:
    detail = error.args[0] if error.args else error
    return detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)


def matches(rule: SwitchingRule, moment: LiveMoment) -> bool:
    if rule.to_persona == moment.persona or rule.from_persona not in ("", moment.persona):
        return False
    if rule.say_meter_below and moment.say_meter >= rule.say_meter_below:
        return False
    if rule.stage and rule.stage != moment.stage.value:
        return False
    if rule.pattern:
        said = next((turn.text for turn in reversed(moment.turns) if turn.role is Role.USER), None)
        return said is not None and _compiled(rule.pattern).search(said) is not None
    return True


def rule_that_fires(rules: Sequence[SwitchingRule], moment: LiveMoment) -> SwitchingRule | None:
    """The matching rule of highest priority (the oldest among equals)."""
    firing = [rule for rule in rules if matches(rule, moment)]
    return min(firing, key=lambda rule: (-rule.priority, rule.create_time)) if firing else None


# Names the suggestions switching rules raise: uuid5 in a namespace of their own.
_RULE_SUGGESTIONS = uuid.UUID("5a0f6c1e-2b4d-4e8a-9c37-0d5e1f7a9b24")


def rule_suggestion_id(organization: str, session_id: str, trigger_id: str, rule_name: str) -> str:
    """The id of the suggestion ``rule_name`` raises at a session's reading of ``trigger_id``, known before the
    reading is stored: a handoff the rule applies itself can start while the reading is being stored, with the
    suggestion's name as its request id, and a reading stored twice (a concurrent one of the same trigger, or a
    retry) names the same suggestion, so the transcript service starts one handoff."""
    return str(uuid.uuid5(_RULE_SUGGESTIONS, f"{organization}/{session_id}/{trigger_id}/{rule_name}"))
