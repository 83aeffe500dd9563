"""The persona service's memory as the outbox sees it: learning the facts of an ended session."""

from __future__ import annotations

from sparring.persona.v1 import memory_service_pb2 as pb
from sparring.persona.v1 import memory_service_pb2_grpc

from svckit.transport import ServiceLink
from transcript_svc.domain.model import Message, Role, Session

_ROLES = {Role.USER: pb.MESSAGE_ROLE_CANDIDATE, Role.ASSISTANT: pb.MESSAGE_ROLE_PERSONA}


class MemoryClient:
    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._link = link
        self._stub = memory_service_pb2_grpc.MemoryServiceStub(link.channel)
        self._timeout = timeout_seconds

    async def learn(self, session: Session, messages: list[Message]) -> None:
        """Hands the session's messages to its persona, for its organization; raises grpc.aio.AioRpcError when the
        persona service refuses or cannot be reached (the persona learns a session once, so a repeat is harmless)."""
        await self._stub.RecordSessionFacts(pb.RecordSessionFactsRequest(
            parent=f"{session.persona}/{session.candidate}", session=session.resource_name,
            messages=[pb.SessionMessage(sequence=m.sequence, role=_ROLES[m.role], text=m.text) for m in messages],
            request_id=f"facts-{session.id}"), **self._link.options(self._timeout, session.organization))
