"""The in-memory request log every service's use-case fakes share: the rules of ``svckit.db.RequestLog``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from svckit.errors import FieldViolation, InvalidArgument

Claims = dict[str, tuple[str, str, Any]]  # request id -> (method, fingerprint, first response)


class HoldsRequests(Protocol):
    """The fake database state a log lives in (read on every call, so a rolled-back state is seen)."""

    requests: Claims


@dataclass
class RequestTable:
    """A request log's state on its own, for fakes that keep it apart from their tables."""

    requests: Claims = field(default_factory=dict)


class InMemoryRequestLog:
    """A request id is claimed once: a retry gets the first response, the same id with another payload is refused."""

    def __init__(self, state: HoldsRequests) -> None:
        self._state = state

    async def claim(self, request_id: str, method: str, fingerprint: str) -> Any | None:
        requests = self._state.requests
        if request_id not in requests:
            requests[request_id] = (method, fingerprint, None)
            return None
        first_method, first_fingerprint, response = requests[request_id]
        if (first_method, first_fingerprint) != (method, fingerprint):
            raise InvalidArgument(FieldViolation("request_id", f"{request_id!r} was already used for a different "
                                                               "request"))
        return response

    async def record(self, request_id: str, response: Any) -> None:
        method, fingerprint, _ = self._state.requests[request_id]
        self._state.requests[request_id] = (method, fingerprint, response)
