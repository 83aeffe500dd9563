"""Admitting a call: who is calling (the bearer token), whether its roles may call the method, and whether it is
within its rate limit. Every method is listed in a permission table (``MethodRule`` by full method name);
a method the table does not list is refused, so a new RPC is closed until it is given a rule.

Health is open to everyone (load balancers and probes carry no token); reflection is open, needs a token,
or is not served, as configured.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import Counter

from svckit.errors import PermissionDenied, ResourceExhausted, Unauthenticated
from svckit.identity import Principal, TokenVerifier
from svckit.logs import ThrottledLog
from svckit.ratelimit import RateLimiter

if TYPE_CHECKING:
    from svckit.context import CallContext

log = logging.getLogger("svckit.guard")

AUTH_REFUSALS = Counter("sparring_auth_refusals_total", "Calls refused as unauthenticated or not permitted.",
                        ("grpc_service", "grpc_method", "reason"))

HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFLECTION_PREFIXES = ("/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/")
# A client retrying with a bad token is counted on every call but logged once per method and reason per interval.
REFUSAL_LOG_INTERVAL_SECONDS = 10.0
# Who calls an open method: nobody in particular.
NOBODY = Principal("anonymous", "", frozenset())


@dataclass(frozen=True, slots=True)
class MethodRule:
    """Who may call a method. ``mutating`` calls are written to the audit log; ``costly`` ones are rate limited;
    ``note`` says what the service checks beyond the role (ownership, participation)."""

    roles: frozenset[str]
    mutating: bool = False
    costly: bool = False
    public: bool = False
    note: str = ""


OPEN = MethodRule(roles=frozenset(), public=True)
ANY_ROLE = MethodRule(roles=frozenset())  # any verified caller
_UNLISTED = MethodRule(roles=frozenset({"-"}))


class CallGuard:
    """Admits calls by the permission table ``rules``.

    ``verifier`` None, or a call without a token, in development mode only: such calls act as ``anonymous``.
    """

    def __init__(self, rules: Mapping[str, MethodRule], verifier: TokenVerifier | None,
                 anonymous: Principal | None = None, limiter: RateLimiter | None = None,
                 reflection: str = "public") -> None:
        if verifier is None and anonymous is None:
            raise ValueError("a guard without a token verifier admits anonymous callers only in development mode")
        self._rules = rules
        self._verifier = verifier
        self._anonymous = anonymous
        self._limiter = limiter
        self._reflection = reflection
        self._refusal_log = ThrottledLog(log, REFUSAL_LOG_INTERVAL_SECONDS)

    @property
    def serves_reflection(self) -> bool:
        return self._reflection != "off"

    def rule_of(self, method: str) -> MethodRule:
        if method.startswith(HEALTH_PREFIX):
            return OPEN
        if method.startswith(REFLECTION_PREFIXES):
            return OPEN if self._reflection == "public" else ANY_ROLE
        return self._rules.get(method, _UNLISTED)

    async def admit(self, call: CallContext, rule: MethodRule) -> None:
        """Admits ``call`` if it may be made now, or raises the refusal (counted, logged without the token).

        The caller's principal replaces the call's credentials as soon as it is known, so a call refused for its
        role or rate limit still names its caller (the audit log records who was refused)."""
        if rule.public:
            call.principal = NOBODY
            call.credentials = ""
            return
        try:
            principal = await self._authenticate(call.credentials, call.acting_for)
        except Unauthenticated as refused:
            self._refused(call.method, refused.reason, "")
            raise
        call.principal = principal
        call.credentials = ""
        method = call.method
        if rule.roles and not principal.has_any(rule.roles):
            self._refused(method, "ROLE_NOT_PERMITTED", principal.subject)
            allowed = ", ".join(sorted(rule.roles)) if rule is not _UNLISTED else "nobody (no rule)"
            raise PermissionDenied(f"{method} may be called by: {allowed}; the caller's roles are "
                                   f"{', '.join(sorted(principal.roles)) or 'none'}", reason="ROLE_NOT_PERMITTED",
                                   metadata={"method": method})
        if rule.costly and self._limiter is not None and not principal.is_service:
            # Subjects are the issuer's: the same one may stand for different callers of two organizations.
            wait = self._limiter.take(f"{principal.organization}/{principal.subject}", method)
            if wait is not None:
                raise ResourceExhausted(f"{principal.subject} calls {method} faster than its rate limit allows",
                                        reason="RATE_LIMITED", metadata={"method": method},
                                        retry_after=round(wait, 3))

    async def _authenticate(self, credentials: str, acting_for: str) -> Principal:
        if not credentials:
            if self._anonymous is not None:
                return self._anonymous
            raise Unauthenticated("this call needs a bearer token (metadata `authorization: Bearer <token>`)",
                                  reason="TOKEN_MISSING")
        # A caller sends the same header on every call: its principal is kept under the header as it came, so a
        # known caller's call is one lookup, without taking the header apart again (a 400-byte token: ~0.5 µs).
        principal = self._verifier.known(credentials) if self._verifier is not None else None
        if principal is None:
            scheme, _, token = credentials.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("the authorization metadata must be `Bearer <token>`", reason="TOKEN_MISSING")
            if self._verifier is None:
                raise Unauthenticated("this server takes no tokens (development mode without a JWKS)",
                                      reason="TOKENS_NOT_CONFIGURED")
            principal = await self._verifier.verify(token.strip(), kept_as=credentials)
        return principal.acting_for(acting_for) if principal.is_service else principal

    def _refused(self, method: str, reason: str, subject: str) -> None:
        service, _, name = method.lstrip("/").rpartition("/")
        AUTH_REFUSALS.labels(service, name, reason).inc()
        self._refusal_log.warning((method, reason), "refused %s: %s%s", method, reason,
                                  f" (subject {subject})" if subject else "")
