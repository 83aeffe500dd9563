"""Safety policies as the live path reads them from the persona service: cached a few seconds per persona, read
within a deadline, and when the persona service is slow or failing, the safe default instead (counted).

A change to a policy reaches streams and commands once the copy in memory is read again, in the background, after
``ttl_seconds``; a stream in progress keeps the handling of personal data it opened with."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable

import grpc
from prometheus_client import Counter
from sparring.persona.v1 import safety_policy_service_pb2 as pb
from sparring.persona.v1 import safety_policy_service_pb2_grpc

from guardrails.actions import ActionRules, SafetyAction
from guardrails.filters import ContentFilter, FilterCategory, FilterDecision
from guardrails.pii_policy import DEFAULT_PII_HANDLING, PiiAction, PiiHandling, PiiKind, PiiRule
from guardrails.policy import SAFE_DEFAULT, LivePolicy
from svckit.transport import ServiceLink

log = logging.getLogger("service_clients.safety_policies")

POLICY_READS = Counter("sparring_safety_policy_reads_total",
                       "Safety policies read for live calls, by result: cached, read, or the safe default because "
                       "the persona service did not answer in time (timeout) or failed (unavailable).", ("result",))

# For a reader whose service has no settings of its own for it: an analysis waits this long for a policy it has
# not read yet, keeps it this many seconds, and keeps this many personas' policies.
POLICY_READ_SECONDS = 0.25
POLICY_CACHE_SECONDS = 5.0
POLICY_CACHE_ENTRIES = 10_000

_PII_KINDS = {getattr(pb, f"PII_KIND_{kind.name}"): kind for kind in PiiKind}
_PII_ACTIONS = {getattr(pb, f"PII_ACTION_{action.name}"): action for action in PiiAction}
_ACTIONS = {getattr(pb, f"SAFETY_ACTION_{action.name}"): action for action in SafetyAction}
_FILTER_CATEGORIES = {getattr(pb, f"FILTER_CATEGORY_{category.name}"): category for category in FilterCategory}
_FILTER_DECISIONS = {getattr(pb, f"FILTER_DECISION_{decision.name}"): decision for decision in FilterDecision}


def pii_handling_of(message: pb.PiiHandling) -> PiiHandling:
    """The handling a policy message says; a value this client does not know is handled as the default would."""
    rules = tuple(PiiRule(_PII_KINDS[rule.kind], _PII_ACTIONS[rule.action]) for rule in message.rules
                  if rule.kind in _PII_KINDS and rule.action in _PII_ACTIONS)
    default = _PII_ACTIONS.get(message.default_action, DEFAULT_PII_HANDLING.default_action)
    return PiiHandling(default, rules)


def _actions(values: Iterable[int]) -> tuple[SafetyAction, ...]:
    return tuple(_ACTIONS[value] for value in values if value in _ACTIONS)


def _filters(messages: Iterable[pb.ContentFilter]) -> tuple[ContentFilter, ...]:
    """The filters a policy message lists; one of a category or decision this client does not know is left out."""
    return tuple(ContentFilter(f.rule, _FILTER_CATEGORIES[f.category], _FILTER_DECISIONS[f.decision], f.pattern)
                 for f in messages if f.category in _FILTER_CATEGORIES and f.decision in _FILTER_DECISIONS)


def live_policy_of(message: pb.SafetyPolicy) -> LivePolicy:
    limits = message.rate_limits
    actions = ActionRules(_actions(message.allowed_actions), _actions(message.blocked_actions),
                          _actions(message.approval_actions), limits.actions_per_minute, limits.commands_per_turn)
    return LivePolicy(message.name, message.revision, pii_handling_of(message.pii), actions,
                      _filters(message.input_filters), _filters(message.output_filters),
                      tuple(message.escalation_path), frozenset(message.approver_roles), message.escalation_threshold,
                      limits.tokens_per_conversation, message.risk_threshold)


class SafetyPolicyReader:
    """A policy read once is answered from memory from then on; once ``ttl_seconds`` old it is read again in the
    background, the one known staying in force until the new one arrives (or while the persona service fails),
    so no command or stream waits on the persona service but the first of a persona."""

    def __init__(self, link: ServiceLink, timeout_seconds: float, ttl_seconds: float, max_entries: int) -> None:
        self._link = link
        self._stub = safety_policy_service_pb2_grpc.SafetyPolicyServiceStub(link.channel)
        self._timeout = timeout_seconds
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        # (organization, persona name) -> (when read, policy), oldest use first.
        self._cached: OrderedDict[tuple[str, str], tuple[float, LivePolicy]] = OrderedDict()
        self._reads: dict[tuple[str, str], asyncio.Task[LivePolicy | None]] = {}

    async def in_force(self, organization: str, persona: str) -> LivePolicy:
        """What the persona's calls apply of its policy; never fails."""
        key = (organization, persona)
        cached = self._cached.get(key)
        if cached is None:
            # Shielded: a caller that gives up leaves the read to the others waiting on it.
            return await asyncio.shield(self._reading(key)) or SAFE_DEFAULT
        self._cached.move_to_end(key)
        if time.monotonic() - cached[0] >= self._ttl:
            self._reading(key)
        POLICY_READS.labels("cached").inc()
        return cached[1]

    def _reading(self, key: tuple[str, str]) -> asyncio.Task[LivePolicy | None]:
        """The read of ``key``'s policy under way, else a new one: the callers that want it at once share one read."""
        read = self._reads.get(key)
        if read is None:
            read = self._reads[key] = asyncio.create_task(self._read(key))
            read.add_done_callback(lambda _: self._reads.pop(key, None))
        return read

    async def _read(self, key: tuple[str, str]) -> LivePolicy | None:
        """The policy from the persona service, kept; None (counted and logged) when it does not answer in time."""
        organization, persona = key
        try:
            reply = await self._stub.GetSafetyPolicy(pb.GetSafetyPolicyRequest(name=f"{persona}/safetyPolicy"),
                                                     **self._link.options(self._timeout, organization))
        except grpc.aio.AioRpcError as error:
            result = "timeout" if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED else "unavailable"
            POLICY_READS.labels(result).inc()
            log.warning("safety policy of %s not read (%s: %s); %s applies", persona, error.code().name,
                        error.details(), "the last one read" if key in self._cached else "the safe default")
            return None
        policy = live_policy_of(reply.policy)
        POLICY_READS.labels("read").inc()
        self._cached[key] = (time.monotonic(), policy)
        self._cached.move_to_end(key)
        if len(self._cached) > self._max_entries:
            self._cached.popitem(last=False)
        return policy

    async def close(self) -> None:
        for read in list(self._reads.values()):
            read.cancel()
        await self._link.close()
