"""Who is calling and which request this is, for the duration of one RPC."""

from __future__ import annotations

import contextvars
import uuid

from svckit.identity import Principal

REQUEST_ID_METADATA_KEY = "x-request-id"
AUTHORIZATION_METADATA_KEY = "authorization"
# The organization a service acts for in a call to another service; ignored from any other caller.
ORGANIZATION_METADATA_KEY = "x-sparring-organization"
# Whoever acts outside any call (start-up, background workers).
SYSTEM = Principal("system", "", frozenset())


class CallContext:
    """The caller's request id (``x-request-id``, or one made up when first needed) and, once the call is
    admitted, its verified principal."""

    __slots__ = ("_request_id", "acting_for", "credentials", "method", "principal")

    def __init__(self, request_id: str, method: str, credentials: str = "", acting_for: str = "",
                 principal: Principal = SYSTEM) -> None:
        self._request_id = request_id
        self.method = method
        self.credentials = credentials  # the bearer token, until the call is admitted
        self.acting_for = acting_for
        self.principal = principal

    @property
    def request_id(self) -> str:
        # Made only when a log line or an error needs it: most calls never do.
        if not self._request_id:
            self._request_id = uuid.uuid4().hex
        return self._request_id

    @property
    def request_id_if_known(self) -> str:
        """The caller's ``x-request-id``, or the one made up for this call's logs; empty if neither (none is made)."""
        return self._request_id

    @property
    def actor(self) -> str:
        """Who is recorded as having made a change: the authenticated subject."""
        return self.principal.subject

    @property
    def organization(self) -> str:
        return self.principal.organization

    @property
    def roles(self) -> frozenset[str]:
        return self.principal.roles

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin


_NO_CALL = CallContext(request_id="-", method="-")
_current: contextvars.ContextVar[CallContext] = contextvars.ContextVar("sparring_call", default=_NO_CALL)


def current_call() -> CallContext:
    return _current.get()


def set_current_call(call: CallContext) -> contextvars.Token:
    return _current.set(call)


def reset_current_call(token: contextvars.Token) -> None:
    _current.reset(token)
