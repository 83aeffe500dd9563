"""The promotions outbox: each promoted variant's persona is owed a version recording the promotion.

Delivered by the shared dispatcher (``svckit.outbox``) after the deciding transaction commits; the persona service
writes one version per experiment, so a repeat does no harm. A refusal no retry can change (the persona deleted or
gone) marks the row failed; anything else is retried with back-off, counted in ``sparring_outbox_deliveries_total``.
"""

from __future__ import annotations

from typing import Any

import grpc
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from learning_svc.adapters.personas import PersonaDirectory
from svckit.outbox import OutboxDispatcher, OutboxQueries, OutboxTable

FINAL_CODES = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                         grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED})
MAX_ATTEMPTS = 50

_QUERIES = OutboxQueries.of(OutboxTable(
    "learning.promotions", fields="item.id, item.organization, item.persona, item.promotion, 'promotion' AS kind",
    order="id"))


def promotions_outbox(engine: AsyncEngine, personas: PersonaDirectory) -> OutboxDispatcher:
    async def deliver(row: sa.Row[Any]) -> None:
        await personas.record_promotion(row.organization, row.persona, row.promotion)

    return OutboxDispatcher("promotions", engine, _QUERIES, deliver, final_codes=FINAL_CODES,
                            max_attempts=MAX_ATTEMPTS)
