"""The analysis service as the outbox sees it: one call per request kind."""

from __future__ import annotations

from datetime import datetime

from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.analysis.v1 import analysis_service_pb2_grpc

from svckit.times import timestamp
from svckit.transport import ServiceLink
from transcript_svc.domain.handoff import HANDOFF_KIND


class AnalysisClient:
    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._link = link
        self._stub = analysis_service_pb2_grpc.AnalysisServiceStub(link.channel)
        self._timeout = timeout_seconds

    async def deliver(self, organization: str, kind: str, session_id: str, up_to_sequence: int) -> None:
        """Asks, for the session's ``organization`` (delivered in the background, outside any call of it); raises
        grpc.aio.AioRpcError when the analysis service refuses or cannot be reached."""
        session = f"sessions/{session_id}"
        options = self._link.options(self._timeout, organization)
        if kind == "audit":
            await self._stub.AuditSession(pb.AuditSessionRequest(session=session, request_id=f"audit-{session_id}"),
                                          **options)
        elif kind == HANDOFF_KIND:
            await self._stub.RequestAnalysis(pb.RequestAnalysisRequest(
                session=session, up_to_sequence=up_to_sequence, trigger_id=f"handoff-{up_to_sequence}",
                source=pb.TRIGGER_SOURCE_HANDOFF), **options)
        else:
            await self._stub.RequestAnalysis(pb.RequestAnalysisRequest(
                session=session, up_to_sequence=up_to_sequence, trigger_id=f"seq-{up_to_sequence}"), **options)

    async def record_risk(self, organization: str, session_id: str, score: int, alert_time: datetime | None,
                          at_risk: bool) -> None:
        """Hands the session's risk to its watchers; raises grpc.aio.AioRpcError as ``deliver`` does."""
        await self._stub.RecordSessionRisk(pb.RecordSessionRiskRequest(
            session=f"sessions/{session_id}",
            risk=pb.SessionRisk(score=score, alert_time=timestamp(alert_time), at_risk=at_risk)),
            **self._link.options(self._timeout, organization))

    async def close(self) -> None:
        await self._link.close()
