"""What every service layer passes around: pages of results and the context of a mutation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from svckit.context import CallContext

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
