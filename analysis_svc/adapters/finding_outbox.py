"""What a reading's input filters found in the candidate's messages, queued in the reading's transaction and
delivered to the transcript service's guardrail check log (``GuardrailCheckService/RecordInputFilterFindings``,
idempotent on the reading)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import grpc
import sqlalchemy as sa
from sparring.transcript.v1 import guardrail_check_service_pb2 as pb
from sparring.transcript.v1 import guardrail_check_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analysis_svc.domain.content_findings import ContentFinding
from guardrails.filters import FilterDecision
from svckit.outbox import OutboxDispatcher, OutboxQueries, OutboxTable
from svckit.transport import ServiceLink

_QUERIES = OutboxQueries.of(OutboxTable(
    "analysis.finding_deliveries", fields="item.organization, item.session_id, item.analysis_id, item.findings, "
                                          "'findings' AS kind", order="id"))
# Refusals no retry can change (the session is gone, the findings are not valid): the row is marked failed.
_FINAL_CODES = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                          grpc.StatusCode.PERMISSION_DENIED})
_DECISIONS = {FilterDecision.FLAG: pb.GUARDRAIL_DECISION_FLAGGED, FilterDecision.BLOCK: pb.GUARDRAIL_DECISION_BLOCKED}
_ENQUEUE = sa.text("INSERT INTO analysis.finding_deliveries (organization, session_id, analysis_id, findings) "
                   "VALUES (:organization, :session_id, :analysis_id, CAST(:findings AS jsonb))")


class FindingDeliveries:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def enqueue(self, organization: str, session_id: str, analysis_id: str,
                      findings: Sequence[ContentFinding]) -> None:
        await self._c.execute(_ENQUEUE, {"organization": organization, "session_id": session_id,
                                         "analysis_id": analysis_id,
                                         "findings": json.dumps([f.to_record() for f in findings])})


class TranscriptCheckLog:
    """The transcript service's guardrail check log, as the outbox delivers to it."""

    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._link = link
        self._stub = guardrail_check_service_pb2_grpc.GuardrailCheckServiceStub(link.channel)
        self._timeout = timeout_seconds

    async def record(self, organization: str, session_id: str, analysis_id: str,
                     findings: Sequence[ContentFinding]) -> None:
        """Raises grpc.aio.AioRpcError when the transcript service refuses or cannot be reached."""
        await self._stub.RecordInputFilterFindings(pb.RecordInputFilterFindingsRequest(
            parent=f"sessions/{session_id}", reading=f"sessions/{session_id}/analyses/{analysis_id}",
            findings=[pb.InputFilterFinding(rule=f.rule, decision=_DECISIONS[f.decision],
                                            message_sequence=f.message_sequence, quote=f.quote)
                      for f in findings]), **self._link.options(self._timeout, organization))


def finding_outbox(engine: AsyncEngine, checks: TranscriptCheckLog) -> OutboxDispatcher:
    async def deliver_row(row: Any) -> None:
        await checks.record(row.organization, row.session_id, row.analysis_id,
                            [ContentFinding.from_record(record) for record in row.findings])

    return OutboxDispatcher("analysis-findings", engine, _QUERIES, deliver_row, final_codes=_FINAL_CODES)
