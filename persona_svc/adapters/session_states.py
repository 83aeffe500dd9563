"""Whether sessions have ended, as the transcript service says, for voice-agent clean-up: one GetSession per
session, with this service's identity acting for the session's organization, within a deadline."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from svckit.errors import Unavailable
from svckit.transport import ServiceLink


class TranscriptSessionStates:
    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._link = link
        self._stub = transcript_service_pb2_grpc.TranscriptServiceStub(link.channel)
        self._timeout = timeout_seconds

    async def ended_at(self, organization: str, session: str) -> datetime | None:
        try:
            reply = await self._stub.GetSession(pb.GetSessionRequest(name=session),
                                                **self._link.options(self._timeout, organization))
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:  # no such session: none that is live uses the agent
                return datetime.now(UTC)
            raise Unavailable(f"the transcript service could not be read ({error.code().name}: "
                              f"{error.details()})", reason="TRANSCRIPT_SERVICE_UNAVAILABLE") from error
        if reply.session.state != pb.SESSION_STATE_ENDED:
            return None
        return reply.session.end_time.ToDatetime(tzinfo=UTC)

    async def close(self) -> None:
        await self._link.close()
