"""Audits not yet handed on, as two outboxes over the same rows: to the learning service (retried with back-off,
never dropped), and to the persona's memory as its episode's review (retried with back-off, given up after
``REVIEW_ATTEMPTS`` attempts or a refusal no retry can fix)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from analysis_svc.adapters.repositories import stored_audit
from analysis_svc.domain.model import StoredAudit
from svckit.outbox import OutboxDispatcher, OutboxQueries, OutboxTable

_DELIVERY = OutboxQueries.of(OutboxTable(
    "analysis.persona_audits", fields="item.*, 'audit' AS kind", order="next_attempt_time",
    state="delivery_state", delivered="delivered", attempts="delivery_attempts",
    last_error="last_delivery_error", done_time="deliver_time", can_fail=False,
))


def audit_outbox(engine: AsyncEngine, deliver: Callable[[str, StoredAudit], Awaitable[None]]) -> OutboxDispatcher:
    """The shared dispatcher over the pending audits, handing each with its organization to ``deliver`` until it
    succeeds."""
    async def deliver_row(row: Any) -> None:
        await deliver(row.organization, stored_audit(row))

    return OutboxDispatcher("analysis-audits", engine, _DELIVERY, deliver_row, poll_seconds=2.0)


_REVIEW_DELIVERY = OutboxQueries.of(OutboxTable(
    "analysis.persona_audits", fields="item.*, 'review' AS kind", order="review_next_attempt_time",
    state="review_state", attempts="review_attempts", last_error="review_last_error", done_time="review_time",
    next_attempt="review_next_attempt_time",
))
# With the back-off doubling up to five minutes, about an hour and a half of a persona service that cannot take it.
REVIEW_ATTEMPTS = 20


def review_outbox(engine: AsyncEngine, deliver: Callable[[str, StoredAudit], Awaitable[None]]) -> OutboxDispatcher:
    """The shared dispatcher over the audits not yet in their persona's memory; a persona gone (NOT_FOUND) or a
    review refused as invalid is given up at once, as failed."""
    async def deliver_row(row: Any) -> None:
        await deliver(row.organization, stored_audit(row))

    return OutboxDispatcher("analysis-reviews", engine, _REVIEW_DELIVERY, deliver_row, poll_seconds=2.0,
                            final_codes=frozenset({grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT}),
                            max_attempts=REVIEW_ATTEMPTS)
