"""Audits not yet stored by the learning service, as an outbox: retried with back-off, never dropped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

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
