"""The transcript outbox: analysis triggers and post-call audits for the analysis service, and the facts of an ended
session with a candidate for its persona to learn.

Delivered by the shared dispatcher (``svckit.outbox``); the analysis service is idempotent on
the trigger id and on the session's audit, and the persona service on the session's facts, so a repeat does no harm.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from svckit.outbox import OutboxDispatcher, OutboxQueries, OutboxTable

# Refusals that a retry cannot change; the row is marked failed at once.
FINAL_CODES = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                         grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED})

_QUERIES = OutboxQueries.of(OutboxTable(
    "transcript.outbox", fields="item.id, item.organization, item.session_id, item.kind, item.up_to_sequence",
    order="id"))


def transcript_outbox(engine: AsyncEngine, deliver: Callable[[str, str, str, int], Awaitable[None]],
                      max_attempts: int, concurrency: int) -> OutboxDispatcher:
    async def deliver_row(row: sa.Row[Any]) -> None:
        await deliver(row.organization, row.kind, row.session_id, row.up_to_sequence)

    return OutboxDispatcher("transcript", engine, _QUERIES, deliver_row,
                            final_codes=FINAL_CODES, max_attempts=max_attempts, concurrency=concurrency)
