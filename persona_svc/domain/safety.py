"""Safety policies as plain data: what may be done to a live call, what is filtered in and out, how personal
data is handled, the limits and thresholds; the defaults of each blueprint, and the rules a policy obeys."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import re2

from calls.job_tracks import Blueprint
from guardrails.actions import APPROVER_ROLES, DEFAULT_ACTIONS_PER_MINUTE, DEFAULT_COMMANDS_PER_TURN, SafetyAction
from guardrails.filters import (
    DEFAULT_OUTPUT_FILTERS,
    ContentFilter,
    FilterCategory,
    FilterDecision,
    compile_pattern,
)
from guardrails.pii_policy import DEFAULT_PII_HANDLING, PiiHandling, PiiKind
from svckit import records
from svckit.errors import Violations
from svckit.names import valid_id


class PolicySource(StrEnum):
    BLUEPRINT = "blueprint"
    ORGANIZATION = "organization"
    PERSONA = "persona"


MAX_FILTERS = 20
MAX_PATTERN_LENGTH = 500
MAX_ESCALATION_STEPS = 5
# Above these a limit is a typing error, not a policy: ten actions a second, a conversation of a novel.
MAX_ACTIONS_PER_MINUTE = 600
MAX_TOKENS_PER_CONVERSATION = 1_000_000
MAX_COMMANDS_PER_TURN = 50
ESCALATION_COLLECTIONS = ("personas", "queues")

@dataclass(frozen=True, slots=True)
class RateLimits:
    """Zero: no limit."""

    actions_per_minute: int = 0
    tokens_per_conversation: int = 0
    commands_per_turn: int = 0


@dataclass(frozen=True, slots=True)
class SafetyPolicyFields:
    """Everything a caller writes about a safety policy."""

    allowed_actions: tuple[SafetyAction, ...] = ()
    blocked_actions: tuple[SafetyAction, ...] = ()
    approval_actions: tuple[SafetyAction, ...] = ()
    input_filters: tuple[ContentFilter, ...] = ()
    output_filters: tuple[ContentFilter, ...] = ()
    pii: PiiHandling = field(default_factory=PiiHandling)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    risk_threshold: float = 0.5
    escalation_threshold: float = 0.8
    escalation_path: tuple[str, ...] = ()
    approver_roles: tuple[str, ...] = ()

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = records.to_record(self)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SafetyPolicyFields:
        return records.from_record(cls, record)


@dataclass(frozen=True, slots=True)
class SafetyPolicy:
    """The policy of a persona (``persona_id``) or, with an empty ``persona_id``, the organization's default.

    ``revision`` 0: not written; the fields are the defaults it falls back to (``source``)."""

    persona_id: str
    fields: SafetyPolicyFields
    source: PolicySource
    revision: int = 0
    update_time: datetime | None = None

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'


@dataclass(frozen=True, slots=True)
class SafetyPolicyVersion:
    persona_id: str
    revision: int
    restored_revision: int
    fields: SafetyPolicyFields
    author: str
    create_time: datetime


_RATE_LIMITS = RateLimits(actions_per_minute=DEFAULT_ACTIONS_PER_MINUTE, tokens_per_conversation=0,
                          commands_per_turn=DEFAULT_COMMANDS_PER_TURN)


def default_policy(blueprint: Blueprint | None) -> SafetyPolicyFields:
    """The policy of a blueprint's personas when neither they nor their organization wrote one (``None``: of every
    blueprint). Every track blocks slurs and threats from the persona and protects card numbers, IBANs and national
    ids; the HR track also flags the questions a hiring manager may not legally ask."""
    input_filters = ((ContentFilter("illegal-interview-questions", FilterCategory.ILLEGAL_INTERVIEW_QUESTIONS,
                                    FilterDecision.FLAG),) if blueprint == Blueprint.HR else ())
    return SafetyPolicyFields(input_filters=input_filters, output_filters=DEFAULT_OUTPUT_FILTERS,
                              pii=DEFAULT_PII_HANDLING, rate_limits=_RATE_LIMITS)


def validate_policy(fields: SafetyPolicyFields, violations: Violations, prefix: str = "policy") -> None:
    """Rules that hold for any policy, whoever writes it; escalation loops are checked against the other
    policies by the use case."""
    _check_actions(fields, violations, prefix)
    for list_name, filters in (("input_filters", fields.input_filters), ("output_filters", fields.output_filters)):
        _check_filters(filters, violations, f"{prefix}.{list_name}")
    seen_kinds: set[PiiKind] = set()
    for index, rule in enumerate(fields.pii.rules):
        if rule.kind in seen_kinds:
            violations.add(f"{prefix}.pii.rules[{index}].kind", f"{rule.kind.name} has a rule already")
        seen_kinds.add(rule.kind)
    for limit_name, maximum in (("actions_per_minute", MAX_ACTIONS_PER_MINUTE),
                                ("tokens_per_conversation", MAX_TOKENS_PER_CONVERSATION),
                                ("commands_per_turn", MAX_COMMANDS_PER_TURN)):
        value = getattr(fields.rate_limits, limit_name)
        if not 0 <= value <= maximum:
            violations.add(f"{prefix}.rate_limits.{limit_name}",
                           f"must be 0 (no limit) to {maximum:,} (got {value:,})")
    for threshold_name in ("risk_threshold", "escalation_threshold"):
        value = getattr(fields, threshold_name)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            violations.add(f"{prefix}.{threshold_name}", f"must be between 0 and 1 (got {value})")
    if fields.escalation_threshold < fields.risk_threshold:
        violations.add(f"{prefix}.escalation_threshold",
                       f"must not be below risk_threshold ({fields.escalation_threshold} < {fields.risk_threshold})")
    _check_escalation_path(fields.escalation_path, violations, f"{prefix}.escalation_path")
    _check_approver_roles(fields.approver_roles, violations, f"{prefix}.approver_roles")


def _check_actions(fields: SafetyPolicyFields, violations: Violations, prefix: str) -> None:
    for list_name in ("allowed_actions", "blocked_actions", "approval_actions"):
        seen: set[SafetyAction] = set()
        for index, action in enumerate(getattr(fields, list_name)):
            if action in seen:
                violations.add(f"{prefix}.{list_name}[{index}]", f"{action.name} is given twice")
            seen.add(action)
    for index, action in enumerate(fields.blocked_actions):
        if action in fields.allowed_actions:
            violations.add(f"{prefix}.blocked_actions[{index}]",
                           f"{action.name} is also in allowed_actions: an action is allowed or blocked, not both")
    for index, action in enumerate(fields.approval_actions):
        if action in fields.blocked_actions:
            violations.add(f"{prefix}.approval_actions[{index}]",
                           f"{action.name} is blocked: a blocked action cannot be approved")
        elif fields.allowed_actions and action not in fields.allowed_actions:
            violations.add(f"{prefix}.approval_actions[{index}]", f"{action.name} is not in allowed_actions")


def _check_filters(filters: tuple[ContentFilter, ...], violations: Violations, path: str) -> None:
    if len(filters) > MAX_FILTERS:
        violations.add(path, f"must hold at most {MAX_FILTERS} filters (got {len(filters)})")
    seen: set[str] = set()
    for index, content_filter in enumerate(filters):
        where = f"{path}[{index}]"
        if not valid_id(content_filter.rule):
            violations.add(f"{where}.rule", "must be 1-63 lowercase letters, digits and single dashes "
                                            f"(got {content_filter.rule[:100]!r})")
        elif content_filter.rule in seen:
            violations.add(f"{where}.rule", f"rule {content_filter.rule!r} is given twice")
        seen.add(content_filter.rule)
        if content_filter.category != FilterCategory.PATTERN:
            if content_filter.pattern:
                violations.add(f"{where}.pattern", "is for FILTER_CATEGORY_PATTERN only")
            continue
        if not content_filter.pattern or len(content_filter.pattern) > MAX_PATTERN_LENGTH:
            violations.add(f"{where}.pattern", f"must be 1 to {MAX_PATTERN_LENGTH} characters "
                                               f"(got {len(content_filter.pattern)})")
            continue
        try:
            compile_pattern(content_filter.pattern)
        except re2.error as error:
            detail = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
            violations.add(f"{where}.pattern", f"does not compile as RE2 (linear time: no backreferences or "
                                               f"lookaround): {detail}")


def escalation_target(name: str) -> tuple[str, str] | None:
    """(collection, id) of an escalation step, "personas/{id}" or "queues/{id}"; None for anything else."""
    collection, _, target_id = name.partition("/")
    if collection in ESCALATION_COLLECTIONS and valid_id(target_id):
        return collection, target_id
    return None


def _check_approver_roles(roles: tuple[str, ...], violations: Violations, where: str) -> None:
    for index, role in enumerate(roles):
        if role not in APPROVER_ROLES:
            violations.add(f"{where}[{index}]", f"must be one of {', '.join(APPROVER_ROLES)} (got {role[:100]!r})")
        elif role in roles[:index]:
            violations.add(f"{where}[{index}]", f"{role} is given twice")


def _check_escalation_path(path: tuple[str, ...], violations: Violations, where: str) -> None:
    if len(path) > MAX_ESCALATION_STEPS:
        violations.add(where, f"must hold at most {MAX_ESCALATION_STEPS} steps (got {len(path)})")
    for index, step in enumerate(path):
        if escalation_target(step) is None:
            violations.add(f"{where}[{index}]", f"must be 'personas/{{id}}' or 'queues/{{id}}' (got {step[:100]!r})")
        elif step in path[:index]:
            violations.add(f"{where}[{index}]", f"{step} is given twice")


def escalation_personas(path: tuple[str, ...]) -> list[tuple[int, str]]:
    """(index, persona id) of each step of ``path`` that hands over to a persona."""
    return [(index, target[1]) for index, target in ((i, escalation_target(step)) for i, step in enumerate(path))
            if target is not None and target[0] == "personas"]
