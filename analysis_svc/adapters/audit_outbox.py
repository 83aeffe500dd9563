"""Audits not yet stored by the learning service, as an outbox: retried with back-off, never dropped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from analysis_svc.adapters.repositories import stored_audit
from analysis_svc.domain.model import StoredAudit
from svckit.outbox import OutboxDispatcher, OutboxQueries

_DELIVERY = OutboxQueries(
    claim=sa.text("""
WITH due AS (
    SELECT id FROM analysis.persona_audits
    WHERE delivery_state = 'pending' AND next_attempt_time <= now()
    ORDER BY next_attempt_time LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE analysis.persona_audits a
SET next_attempt_time = now() + make_interval(secs => :lease), delivery_attempts = a.delivery_attempts + 1
FROM due WHERE a.id = due.id
RETURNING a.*, 'audit' AS kind, a.delivery_attempts AS attempts, extract(epoch FROM now() - a.create_time) AS age
"""),
    done=sa.text("UPDATE analysis.persona_audits SET delivery_state = 'delivered', deliver_time = now(), "
                 "last_delivery_error = '' WHERE id = :id"),
    retry=sa.text("UPDATE analysis.persona_audits SET next_attempt_time = now() + make_interval(secs => :delay), "
                  "last_delivery_error = :error WHERE id = :id"),
)


def audit_outbox(engine: AsyncEngine, deliver: Callable[[StoredAudit], Awaitable[None]]) -> OutboxDispatcher:
    """The shared dispatcher over the pending audits, handing each to ``deliver`` until it succeeds."""
    async def deliver_row(row: Any) -> None:
        await deliver(stored_audit(row))

    return OutboxDispatcher("analysis-audits", engine, _DELIVERY, deliver_row, poll_seconds=2.0)
