"""Who is calling and which request this is, for the duration of one RPC."""

from __future__ import annotations

import contextvars
import uuid

ROLE_METADATA_KEY = "x-sparring-role"
REQUEST_ID_METADATA_KEY = "x-request-id"
# Who is acting, as the caller's gateway authenticated them; recorded with changes people make.
ACTOR_METADATA_KEY = "x-sparring-actor"
ANONYMOUS_ACTOR = "anonymous"
ADMIN_ROLE = "admin"


class CallContext:
    """The caller's request id (``x-request-id``, or one made up when first needed), roles and actor."""

    __slots__ = ("_request_id", "actor", "method", "roles")

    def __init__(self, request_id: str, method: str, roles: frozenset[str], actor: str = "") -> None:
        self._request_id = request_id
        self.method = method
        self.roles = roles
        self.actor = actor or ANONYMOUS_ACTOR

    @property
    def request_id(self) -> str:
        # Made only when a log line or an error needs it: most calls never do.
        if not self._request_id:
            self._request_id = uuid.uuid4().hex
        return self._request_id

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles


_NO_CALL = CallContext(request_id="-", method="-", roles=frozenset())
_current: contextvars.ContextVar[CallContext] = contextvars.ContextVar("sparring_call", default=_NO_CALL)


def current_call() -> CallContext:
    return _current.get()


def set_current_call(call: CallContext) -> contextvars.Token:
    return _current.set(call)


def reset_current_call(token: contextvars.Token) -> None:
    _current.reset(token)
