"""The transcript service's sessions as erasure sees them: it forgets a candidate's link."""

from __future__ import annotations

import grpc
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from svckit.errors import Unavailable
from svckit.transport import ServiceLink


class TranscriptSessions:
    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._link = link
        self._stub = transcript_service_pb2_grpc.TranscriptServiceStub(link.channel)
        self._timeout = timeout_seconds

    async def forget_candidate(self, organization: str, candidate_id: str) -> int:
        try:
            reply = await self._stub.ForgetCandidate(
                pb.ForgetCandidateRequest(candidate=f"candidates/{candidate_id}"),
                **self._link.options(self._timeout, organization))
        except grpc.aio.AioRpcError as error:
            raise Unavailable(f"the transcript service did not forget the candidate ({error.code().name}); nothing "
                              "was erased, try again", reason="TRANSCRIPT_SERVICE_UNAVAILABLE") from error
        return reply.sessions_unlinked

    async def close(self) -> None:
        await self._link.close()
