"""Opaque, signed page tokens.

A token carries where the next page starts and a digest of the filters it was made
for; it is signed, so a forged or altered token, or one reused with other filters,
is refused with INVALID_ARGUMENT instead of returning a wrong page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from svckit.errors import FieldViolation, InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def page_size(requested: int, field: str = "page_size", default: int = DEFAULT_PAGE_SIZE,
              maximum: int = MAX_PAGE_SIZE) -> int:
    if requested < 0:
        raise InvalidArgument(FieldViolation(field, f"must not be negative (got {requested})"))
    if requested == 0:
        return default
    return min(requested, maximum)


@dataclass(frozen=True)
class PageTokens:
    secret: bytes

    @classmethod
    def from_secret(cls, secret: str) -> PageTokens:
        return cls(secret.encode())

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self.secret, payload, hashlib.sha256).digest()[:16]

    @staticmethod
    def _filters_digest(filters: Any) -> str:
        return hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def encode(self, cursor: Any, filters: Any) -> str:
        payload = json.dumps({"c": cursor, "f": self._filters_digest(filters)}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(self._mac(payload) + payload).decode().rstrip("=")

    def page(self, fetched: list, size: int, cursor_of: Callable[[Any], Any], filters: Any) -> tuple[list, str]:
        """A page and its next token, from up to ``size + 1`` items fetched (the extra one tells that
        there is a next page); ``cursor_of`` the last item kept is where that page starts."""
        if len(fetched) <= size:
            return fetched, ""
        kept = fetched[:size]
        return kept, self.encode(cursor_of(kept[-1]), filters)

    def decode(self, token: str, filters: Any, field: str = "page_token") -> Any:
        """The cursor of a token made by ``encode``; None for an empty token (the first page)."""
        if not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            mac, payload = raw[:16], raw[16:]
            if not hmac.compare_digest(mac, self._mac(payload)):
                raise ValueError("bad signature")
            data = json.loads(payload)
        except (ValueError, TypeError) as error:
            raise InvalidArgument(FieldViolation(field, "is not a page token issued by this service")) from error
        if data.get("f") != self._filters_digest(filters):
            raise InvalidArgument(
                FieldViolation(field, "was issued for a request with other filters; send the same filters")
            )
        return data["c"]


def after_cursor(after: list | None, key: str = "(create_time, id)", newest_first: bool = False,
                 field: str = "page_token") -> tuple[str, dict]:
    """The SQL condition and parameters that start a page after a cursor: ``[create_time, id]``, or as many
    values as ``key`` has columns, the first a time."""
    if not after:
        return "true", {}
    columns = key.strip("()").count(",") + 1
    if len(after) != columns:  # a token of an earlier page order
        raise InvalidArgument(FieldViolation(field, "is from an earlier version of this listing; start again "
                                                    "without it"))
    comparison = "<" if newest_first else ">"
    values = {f"after_{i}": value for i, value in enumerate(after)}
    values["after_0"] = datetime.fromisoformat(after[0])
    return f"{key} {comparison} ({', '.join(f':{name}' for name in values)})", values
