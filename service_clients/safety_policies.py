"""Safety policies as the live path reads them from the persona service: cached a few seconds per persona, read
within a deadline, and when the persona service is slow or failing, the safe default instead (counted).

A change to a policy reaches the calls that start after the cached copy expires (``ttl_seconds``); a call in
progress keeps the handling it started with."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

import grpc
from prometheus_client import Counter
from sparring.persona.v1 import safety_policy_service_pb2 as pb
from sparring.persona.v1 import safety_policy_service_pb2_grpc

from guardrails.pii_policy import DEFAULT_PII_HANDLING, PiiAction, PiiHandling, PiiKind, PiiRule
from svckit.transport import ServiceLink

log = logging.getLogger("service_clients.safety_policies")

POLICY_READS = Counter("sparring_safety_policy_reads_total",
                       "Safety policies read for live calls, by result: cached, read, or the safe default because "
                       "the persona service did not answer in time (timeout) or failed (unavailable).", ("result",))

_PII_KINDS = {getattr(pb, f"PII_KIND_{kind.name}"): kind for kind in PiiKind}
_PII_ACTIONS = {getattr(pb, f"PII_ACTION_{action.name}"): action for action in PiiAction}


def pii_handling_of(message: pb.PiiHandling) -> PiiHandling:
    """The handling a policy message says; a value this client does not know is handled as the default would."""
    rules = tuple(PiiRule(_PII_KINDS[rule.kind], _PII_ACTIONS[rule.action]) for rule in message.rules
                  if rule.kind in _PII_KINDS and rule.action in _PII_ACTIONS)
    default = _PII_ACTIONS.get(message.default_action, DEFAULT_PII_HANDLING.default_action)
    return PiiHandling(default, rules)


class SafetyPolicyReader:
    def __init__(self, link: ServiceLink, timeout_seconds: float, ttl_seconds: float, max_entries: int) -> None:
        self._link = link
        self._stub = safety_policy_service_pb2_grpc.SafetyPolicyServiceStub(link.channel)
        self._timeout = timeout_seconds
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        # (organization, persona name) -> (when read, handling), oldest use first.
        self._cached: OrderedDict[tuple[str, str], tuple[float, PiiHandling]] = OrderedDict()

    async def pii_handling(self, organization: str, persona: str) -> PiiHandling:
        """How the persona's calls handle personal data; never fails."""
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
            return DEFAULT_PII_HANDLING
        handling = pii_handling_of(reply.policy.pii)
        POLICY_READS.labels("read").inc()
        self._cached[key] = (now, handling)
        self._cached.move_to_end(key)
        if len(self._cached) > self._max_entries:
            self._cached.popitem(last=False)
        return handling

    async def close(self) -> None:
        await self._link.close()
