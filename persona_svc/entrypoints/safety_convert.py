"""Safety policy messages to domain objects and back; names and enums are checked here, rules in the domain."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

from sparring.persona.v1 import safety_policy_service_pb2 as pb

from guardrails.actions import SafetyAction
from guardrails.filters import ContentFilter, FilterCategory, FilterDecision
from guardrails.pii_policy import PiiAction, PiiHandling, PiiKind, PiiRule
from persona_svc.domain.safety import (
    PolicySource,
    RateLimits,
    SafetyPolicy,
    SafetyPolicyFields,
    SafetyPolicyVersion,
)
from persona_svc.service_layer.safety_policies import ORGANIZATION_DEFAULT, policy_name
from svckit.errors import FieldViolation, InvalidArgument, NotFound, Violations
from svckit.names import valid_id
from svckit.times import timestamp

POLICY_OUTPUT_ONLY = frozenset({"name", "source", "revision", "etag", "update_time"})
POLICY_WRITABLE = frozenset(f.name for f in pb.SafetyPolicy.DESCRIPTOR.fields if f.name not in POLICY_OUTPUT_ONLY)

_POLICY_NAME = re.compile(r"^(personas|organizations)/([^/]+)/safetyPolicy$")
_VERSION_NAME = re.compile(r"^(.+)/versions/([1-9][0-9]{0,17})$")

Domain = TypeVar("Domain", bound=StrEnum)

# Domain enums to the proto's values of the same name under the proto's prefix.
_ACTION_NUMBERS: dict[SafetyAction, pb.SafetyAction.ValueType] = {
    a: getattr(pb, f"SAFETY_ACTION_{a.name}") for a in SafetyAction}
_CATEGORY_NUMBERS: dict[FilterCategory, pb.FilterCategory.ValueType] = {
    c: getattr(pb, f"FILTER_CATEGORY_{c.name}") for c in FilterCategory}
_DECISION_NUMBERS: dict[FilterDecision, pb.FilterDecision.ValueType] = {
    d: getattr(pb, f"FILTER_DECISION_{d.name}") for d in FilterDecision}
_PII_KIND_NUMBERS: dict[PiiKind, pb.PiiKind.ValueType] = {k: getattr(pb, f"PII_KIND_{k.name}") for k in PiiKind}
_PII_ACTION_NUMBERS: dict[PiiAction, pb.PiiAction.ValueType] = {
    a: getattr(pb, f"PII_ACTION_{a.name}") for a in PiiAction}
_SOURCE_NUMBERS: dict[PolicySource, pb.SafetyPolicySource.ValueType] = {
    s: getattr(pb, f"SAFETY_POLICY_SOURCE_{s.name}") for s in PolicySource}


def _by_number(to_proto: Mapping[Domain, int]) -> dict[int, Domain]:
    return {number: domain for domain, number in to_proto.items()}


_ACTIONS = _by_number(_ACTION_NUMBERS)
_CATEGORIES = _by_number(_CATEGORY_NUMBERS)
_DECISIONS = _by_number(_DECISION_NUMBERS)
_PII_KINDS = _by_number(_PII_KIND_NUMBERS)
_PII_ACTIONS = _by_number(_PII_ACTION_NUMBERS)


def policy_ref(name: str, field: str, organization: str) -> str:
    """The persona id of a policy's name (ORGANIZATION_DEFAULT for the organization's); another organization's
    policy is not found, as a missing one is."""
    match = _POLICY_NAME.match(name)
    if match is None or not valid_id(match.group(2)):
        raise InvalidArgument(FieldViolation(
            field, "must be 'personas/{persona_id}/safetyPolicy' or 'organizations/{organization}/safetyPolicy' "
                   f"(got {name[:100]!r})"))
    collection, resource_id = match.groups()
    if collection == "personas":
        return resource_id
    if resource_id != organization:
        raise NotFound(name)
    return ORGANIZATION_DEFAULT


def version_ref(name: str, field: str, organization: str) -> tuple[str, int]:
    match = _VERSION_NAME.match(name)
    if match is None:
        raise InvalidArgument(FieldViolation(field, f"must be '{{policy}}/versions/{{revision}}' (got {name[:100]!r})"))
    return policy_ref(match.group(1), field, organization), int(match.group(2))


def _enum(mapping: dict[int, Domain], value: int, field: str, what: str, violations: Violations) -> Domain | None:
    found = mapping.get(value)
    if found is None:
        violations.add(field, f"{value} is not a known {what}" if value else f"is required: a {what}")
    return found


def _actions(values: Any, field: str, violations: Violations) -> tuple[SafetyAction, ...]:
    found = (_enum(_ACTIONS, value, f"{field}[{index}]", "SafetyAction", violations)
             for index, value in enumerate(values))
    return tuple(action for action in found if action is not None)


def _filters(messages: Any, field: str, violations: Violations) -> tuple[ContentFilter, ...]:
    filters = []
    for index, message in enumerate(messages):
        where = f"{field}[{index}]"
        category = _enum(_CATEGORIES, message.category, f"{where}.category", "FilterCategory", violations)
        decision = _enum(_DECISIONS, message.decision, f"{where}.decision", "FilterDecision", violations)
        if category is not None and decision is not None:
            filters.append(ContentFilter(message.rule, category, decision, message.pattern))
    return tuple(filters)


def _pii(message: pb.PiiHandling, violations: Violations) -> PiiHandling:
    default = _enum(_PII_ACTIONS, message.default_action, "policy.pii.default_action", "PiiAction", violations)
    rules = []
    for index, rule in enumerate(message.rules):
        kind = _enum(_PII_KINDS, rule.kind, f"policy.pii.rules[{index}].kind", "PiiKind", violations)
        action = _enum(_PII_ACTIONS, rule.action, f"policy.pii.rules[{index}].action", "PiiAction", violations)
        if kind is not None and action is not None:
            rules.append(PiiRule(kind, action))
    return PiiHandling(default or PiiAction.MASK, tuple(rules))


def policy_fields(message: pb.SafetyPolicy, mask: frozenset[str]) -> SafetyPolicyFields:
    """The fields ``mask`` names, read from ``message``; the others are left at their defaults, unread. Every
    unknown or missing enum value is a violation naming its field."""
    violations = Violations()
    values: dict[str, Any] = {}
    for name in ("allowed_actions", "blocked_actions", "approval_actions"):
        if name in mask:
            values[name] = _actions(getattr(message, name), f"policy.{name}", violations)
    for name in ("input_filters", "output_filters"):
        if name in mask:
            values[name] = _filters(getattr(message, name), f"policy.{name}", violations)
    if "pii" in mask:
        values["pii"] = _pii(message.pii, violations)
    if "rate_limits" in mask:
        limits = message.rate_limits
        values["rate_limits"] = RateLimits(limits.actions_per_minute, limits.tokens_per_conversation,
                                           limits.commands_per_turn)
    for name in ("risk_threshold", "escalation_threshold"):
        if name in mask:
            values[name] = getattr(message, name)
    if "escalation_path" in mask:
        values["escalation_path"] = tuple(message.escalation_path)
    if "approver_roles" in mask:
        values["approver_roles"] = tuple(message.approver_roles)
    violations.raise_if_any()
    return SafetyPolicyFields(**values)


def _filter_messages(filters: tuple[ContentFilter, ...]) -> list[pb.ContentFilter]:
    return [pb.ContentFilter(rule=f.rule, category=_CATEGORY_NUMBERS[f.category], pattern=f.pattern,
                             decision=_DECISION_NUMBERS[f.decision]) for f in filters]


def _fields_message(organization: str, persona_id: str, fields: SafetyPolicyFields) -> pb.SafetyPolicy:
    return pb.SafetyPolicy(
        name=policy_name(organization, persona_id),
        allowed_actions=[_ACTION_NUMBERS[a] for a in fields.allowed_actions],
        blocked_actions=[_ACTION_NUMBERS[a] for a in fields.blocked_actions],
        approval_actions=[_ACTION_NUMBERS[a] for a in fields.approval_actions],
        input_filters=_filter_messages(fields.input_filters),
        output_filters=_filter_messages(fields.output_filters),
        pii=pb.PiiHandling(
            default_action=_PII_ACTION_NUMBERS[fields.pii.default_action],
            rules=[pb.PiiRule(kind=_PII_KIND_NUMBERS[r.kind], action=_PII_ACTION_NUMBERS[r.action])
                   for r in fields.pii.rules]),
        rate_limits=pb.RateLimits(actions_per_minute=fields.rate_limits.actions_per_minute,
                                  tokens_per_conversation=fields.rate_limits.tokens_per_conversation,
                                  commands_per_turn=fields.rate_limits.commands_per_turn),
        risk_threshold=fields.risk_threshold,
        escalation_threshold=fields.escalation_threshold,
        escalation_path=list(fields.escalation_path),
        approver_roles=list(fields.approver_roles),
    )


def policy_message(organization: str, policy: SafetyPolicy) -> pb.SafetyPolicy:
    message = _fields_message(organization, policy.persona_id, policy.fields)
    message.source = _SOURCE_NUMBERS[policy.source]
    message.revision = policy.revision
    message.etag = policy.etag
    update_time = timestamp(policy.update_time)
    if update_time is not None:
        message.update_time.CopyFrom(update_time)
    return message


def version_message(organization: str, version: SafetyPolicyVersion) -> pb.SafetyPolicyVersion:
    name = policy_name(organization, version.persona_id)
    snapshot = policy_message(organization, SafetyPolicy(
        version.persona_id, version.fields,
        PolicySource.PERSONA if version.persona_id != ORGANIZATION_DEFAULT else PolicySource.ORGANIZATION,
        version.revision, version.create_time))
    return pb.SafetyPolicyVersion(name=f"{name}/versions/{version.revision}", revision=version.revision,
                                  restored_revision=version.restored_revision, snapshot=snapshot,
                                  author=version.author, create_time=timestamp(version.create_time))
