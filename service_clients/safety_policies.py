"""Safety policies as the live path reads them from the persona service: cached a few seconds per persona, read
within a deadline, and when the persona service is slow or failing, the safe default instead (counted).

A change to a policy reaches streams and commands after the cached copy expires (``ttl_seconds``); a stream in
progress keeps the handling of personal data it opened with."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterable

import grpc
from prometheus_client import Counter
from sparring.persona.v1 import safety_policy_service_pb2 as pb
from sparring.persona.v1 import safety_policy_service_pb2_grpc

from guardrails.actions import ActionRules, SafetyAction
from guardrails.pii_policy import DEFAULT_PII_HANDLING, PiiAction, PiiHandling, PiiKind, PiiRule
from guardrails.policy import SAFE_DEFAULT, LivePolicy
from svckit.transport import ServiceLink

log = logging.getLogger("service_clients.safety_policies")

POLICY_READS = Counter("sparring_safety_policy_reads_total",
                       "Safety policies read for live calls, by result: cached, read, or the safe default because "
                       "the persona service did not answer in time (timeout) or failed (unavailable).", ("result",))

_PII_KINDS = {getattr(pb, f"PII_KIND_{kind.name}"): kind for kind in PiiKind}
_PII_ACTIONS = {getattr(pb, f"PII_ACTION_{action.name}"): action for action in PiiAction}
_ACTIONS = {getattr(pb, f"SAFETY_ACTION_{action.name}"): action for action in SafetyAction}


def pii_handling_of(message: pb.PiiHandling) -> PiiHandling:
    """The handling a policy message says; a value this client does not know is handled as the default would."""
    rules = tuple(PiiRule(_PII_KINDS[rule.kind], _PII_ACTIONS[rule.action]) for rule in message.rules
                  if rule.kind in _PII_KINDS and rule.action in _PII_ACTIONS)
    default = _PII_ACTIONS.get(message.default_action, DEFAULT_PII_HANDLING.default_action)
    return PiiHandling(default, rules)


def _actions(values: Iterable[int]) -> tuple[SafetyAction, ...]:
    return tuple(_ACTIONS[value] for value in values if value in _ACTIONS)


def live_policy_of(message: pb.SafetyPolicy) -> LivePolicy:
    limits = message.rate_limits
    actions = ActionRules(_actions(message.allowed_actions), _actions(message.blocked_actions),
                          _actions(message.approval_actions), limits.actions_per_minute, limits.commands_per_turn)
    return LivePolicy(message.name, message.revision, pii_handling_of(message.pii), actions)


class SafetyPolicyReader:
    def __init__(self, link: ServiceLink, timeout_seconds: float, ttl_seconds: float, max_entries: int) -> None:
        self._link = link
        self._stub = safety_policy_service_pb2_grpc.SafetyPolicyServiceStub(link.channel)
        self._timeout = timeout_seconds
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        # (organization, persona name) -> (when read, policy), oldest use first.
        self._cached: OrderedDict[tuple[str, str], tuple[float, LivePolicy]] = OrderedDict()

    async def in_force(self, organization: str, persona: str) -> LivePolicy:
        """What the persona's calls apply of its policy; never fails."""
        key = (organization, persona)
        now = time.monotonic()
        cached = self._cached.get(key)
        if cached is not None and now - cached[0] < self._ttl:
            self._cached.move_to_end(key)
            POLICY_READS.labels("cached").inc()
            return cached[1]
        try:
            reply = await self._stub.GetSafetyPolicy(pb.GetSafetyPolicyRequest(name=f"{persona}/safetyPolicy"),
                                                     **self._link.options(self._timeout, organization))
        except grpc.aio.AioRpcError as error:
            result = "timeout" if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED else "unavailable"
            POLICY_READS.labels(result).inc()
            log.warning("safety policy of %s not read (%s: %s); the safe default applies", persona,
                        error.code().name, error.details())
            return SAFE_DEFAULT
        policy = live_policy_of(reply.policy)
        POLICY_READS.labels("read").inc()
        self._cached[key] = (now, policy)
        self._cached.move_to_end(key)
        if len(self._cached) > self._max_entries:
            self._cached.popitem(last=False)
        return policy

    async def close(self) -> None:
        await self._link.close()
