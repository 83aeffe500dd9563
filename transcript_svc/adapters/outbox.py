"""The transcript outbox: analysis triggers and post-call audits for the analysis service.

Delivered by the shared dispatcher (``svckit.outbox``); the analysis service is idempotent on
the trigger id and on the session's audit, so a repeat does no harm.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from svckit.outbox import OutboxDispatcher, OutboxQueries

# Refusals that a retry cannot change; the row is marked failed at once.
FINAL_CODES = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                         grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED})

_CLAIM = sa.text("""
WITH due AS (
    SELECT id FROM transcript.outbox
    WHERE state = 'pending' AND next_attempt_time <= now()
    ORDER BY id LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE transcript.outbox o
SET next_attempt_time = now() + make_interval(secs => :lease), attempts = o.attempts + 1
FROM due WHERE o.id = due.id
RETURNING o.id, o.session_id, o.kind, o.up_to_sequence, o.attempts, extract(epoch FROM now() - o.create_time) AS age
""")
_DONE = sa.text("UPDATE transcript.outbox SET state = 'done', done_time = now(), last_error = '' WHERE id = :id")
_RETRY = sa.text("""
UPDATE transcript.outbox SET next_attempt_time = now() + make_interval(secs => :delay), last_error = :error
WHERE id = :id
""")
_FAILED = sa.text(
    "UPDATE transcript.outbox SET state = 'failed', done_time = now(), last_error = :error WHERE id = :id"
)


def transcript_outbox(engine: AsyncEngine, deliver: Callable[[str, str, int], Awaitable[None]],
                      max_attempts: int) -> OutboxDispatcher:
    async def deliver_row(row: sa.Row[Any]) -> None:
        await deliver(row.kind, row.session_id, row.up_to_sequence)

    return OutboxDispatcher("transcript", engine, OutboxQueries(_CLAIM, _DONE, _RETRY, _FAILED), deliver_row,
                            final_codes=FINAL_CODES, max_attempts=max_attempts)
