"""Who is calling and which request this is, for the duration of one RPC."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

ROLE_METADATA_KEY = "x-sparring-role"
REQUEST_ID_METADATA_KEY = "x-request-id"
ADMIN_ROLE = "admin"


@dataclass(frozen=True, slots=True)
class CallContext:
    request_id: str
    method: str
    roles: frozenset[str]

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
