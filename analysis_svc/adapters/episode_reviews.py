"""Each audit handed to its persona's memory as the review of the call's episode: the Say Meter arc and what the
audit found."""

from __future__ import annotations

from sparring.audit.v1 import audit_pb2
from sparring.persona.v1 import memory_service_pb2 as pb
from sparring.persona.v1 import memory_service_pb2_grpc

from analysis_svc.domain.model import SayMeterArc, StoredAudit
from calls.persona_audit import FlagReason
from svckit.transport import ServiceLink

_FLAGS = {reason: getattr(audit_pb2, f"FLAG_REASON_{reason.name}") for reason in FlagReason}


def episode_review(audit: StoredAudit, arc: SayMeterArc) -> pb.RecordEpisodeReviewRequest:
    request = pb.RecordEpisodeReviewRequest(
        persona=audit.persona, session=f"sessions/{audit.session_id}",
        say_meter=pb.SayMeterArc(scores=arc.scores),
        audit=pb.EpisodeAudit(audit=f"audits/{audit.id}", overall_score=audit.audit.overall_score, flags=[
            pb.EpisodeFlag(reason=_FLAGS[quote.reason], message_sequence=quote.sequence)
            for quote in audit.audit.flagged_quotes]))
    if arc.final_score is not None:
        request.say_meter.final_score = arc.final_score
    return request


class EpisodeReviews:
    """The persona service's memory, over the persona link the service shares (closed by its owner)."""

    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._link = link
        self._stub = memory_service_pb2_grpc.MemoryServiceStub(link.channel)
        self._timeout = timeout_seconds

    async def record(self, organization: str, audit: StoredAudit, arc: SayMeterArc) -> None:
        """Hands over the review on behalf of ``organization``. Raises grpc.aio.AioRpcError when the persona service
        refuses or cannot be reached; a repeat is accepted and changes nothing."""
        await self._stub.RecordEpisodeReview(episode_review(audit, arc),
                                             **self._link.options(self._timeout, organization))
