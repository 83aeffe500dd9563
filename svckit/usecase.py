"""What every service layer passes around: pages of results, the context of a mutation, and running a
mutation once per request id."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from google.protobuf.message import Message

from svckit.context import CallContext, current_call
from svckit.records import from_record, to_record

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str


@dataclass(frozen=True)
class Mutation:
    """What every mutating call carries: who asks, and the idempotency key with the request's fingerprint."""

    caller: CallContext
    request_id: str = ""
    fingerprint: str = ""


class RequestRecords(Protocol):
    """Responses of mutating requests by ``request_id``, kept in the transaction of the request."""

    async def claim(self, request_id: str, method: str, fingerprint: str) -> Any | None: ...

    async def record(self, request_id: str, response: Any) -> None: ...


def fingerprint(request: Message | MutatingRequest) -> str:
    """Identifies a request's content, so a reused request id with another payload is caught."""
    return hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()


class MutatingRequest(Protocol):
    """A generated mutating request: every one carries a ``request_id``."""

    request_id: str

    def SerializeToString(self, *, deterministic: bool = ...) -> bytes: ...


def mutation_of(request: MutatingRequest) -> Mutation:
    """The Mutation of a mutating gRPC request: the caller of this call and the request's ``request_id``."""
    return Mutation(caller=current_call(), request_id=request.request_id, fingerprint=fingerprint(request))


async def run_idempotent(requests: RequestRecords, mutation: Mutation, method: str,
                         run: Callable[[], Awaitable[T]], result_type: type[T] | None) -> T:
    """Runs ``run()`` once per request id inside the caller's transaction; a retry gets the first result.

    The caller commits afterwards. Results are kept as records of ``result_type`` (a domain dataclass);
    ``None`` for a method whose result is empty.
    """
    if mutation.request_id:
        prior = await requests.claim(mutation.request_id, method, mutation.fingerprint)
        if prior is not None:
            # A method whose result is empty (``result_type`` None) returns None.
            return from_record(result_type, prior) if result_type is not None else cast(T, None)
    result = await run()
    if mutation.request_id:
        await requests.record(mutation.request_id, to_record(result) if result_type is not None else {})
    return result
