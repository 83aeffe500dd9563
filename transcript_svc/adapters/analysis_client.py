"""The analysis service as the outbox sees it: one call per request kind."""

from __future__ import annotations

from datetime import datetime

from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.analysis.v1 import analysis_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb

from svckit.blueprints import blueprint_value
from svckit.times import timestamp
from svckit.transport import ServiceLink
from transcript_svc.adapters.reading_windows import ReadingWindow
from transcript_svc.domain.handoff import HANDOFF_KIND
from transcript_svc.domain.model import AUDIT_KIND, Role

_ROLES = {Role.USER: transcript_pb.ROLE_USER, Role.ASSISTANT: transcript_pb.ROLE_ASSISTANT}


class AnalysisClient:
    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._link = link
        self._stub = analysis_service_pb2_grpc.AnalysisServiceStub(link.channel)
        self._timeout = timeout_seconds

    async def deliver(self, organization: str, kind: str, session_id: str, up_to_sequence: int,
                      window: ReadingWindow | None = None) -> None:
        """Asks, for the session's ``organization`` (delivered in the background, outside any call of it), a reading
        with its ``window`` when there is one; raises grpc.aio.AioRpcError when the analysis service refuses or
        cannot be reached."""
        session = f"sessions/{session_id}"
        options = self._link.options(self._timeout, organization)
        if kind == AUDIT_KIND:
            await self._stub.AuditSession(pb.AuditSessionRequest(session=session, request_id=f"audit-{session_id}"),
                                          **options)
            return
        request = pb.RequestAnalysisRequest(session=session, up_to_sequence=up_to_sequence,
                                            trigger_id=f"seq-{up_to_sequence}")
        if kind == HANDOFF_KIND:
            request.trigger_id, request.source = f"handoff-{up_to_sequence}", pb.TRIGGER_SOURCE_HANDOFF
        if window is not None:
            request.window.CopyFrom(_window_message(window))
        await self._stub.RequestAnalysis(request, **options)

    async def record_risk(self, organization: str, session_id: str, score: int, alert_time: datetime | None,
                          at_risk: bool) -> None:
        """Hands the session's risk to its watchers; raises grpc.aio.AioRpcError as ``deliver`` does."""
        await self._stub.RecordSessionRisk(pb.RecordSessionRiskRequest(
            session=f"sessions/{session_id}",
            risk=pb.SessionRisk(score=score, alert_time=timestamp(alert_time), at_risk=at_risk)),
            **self._link.options(self._timeout, organization))

    async def close(self) -> None:
        await self._link.close()


def _window_message(window: ReadingWindow) -> pb.ReadingWindow:
    session, messages = window
    return pb.ReadingWindow(
        blueprint=blueprint_value(session.blueprint), persona=session.playing_persona, scenario=session.scenario,
        last_durable_sequence=session.last_sequence,
        messages=[pb.WindowMessage(sequence=m.sequence, role=_ROLES[m.role], text=m.text) for m in messages])
