"""What the analysis needs from the transcript service: the session and a window of its messages, asked for on
behalf of the organization the session belongs to (the transcript service finds no other organization's)."""

from __future__ import annotations

import asyncio

import grpc
from sparring.transcript.v1 import handoff_service_pb2, handoff_service_pb2_grpc, transcript_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as pb

from analysis_svc.domain.model import EndedCall, Window
from calls.turns import Role, Turn
from svckit.blueprints import blueprint_name
from svckit.errors import FailedPrecondition, NotFound, Unavailable
from svckit.transport import ServiceLink

_ROLES = {pb.ROLE_USER: Role.USER, pb.ROLE_ASSISTANT: Role.ASSISTANT}


class TranscriptReader:
    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._link = link
        self._stub = transcript_service_pb2_grpc.TranscriptServiceStub(link.channel)
        self._handoffs = handoff_service_pb2_grpc.HandoffServiceStub(link.channel)
        self._timeout = timeout_seconds

    async def session(self, organization: str, session_id: str) -> pb.Session:
        """The session as the transcript service holds it; NOT_FOUND unless it is one of ``organization``'s."""
        name = f"sessions/{session_id}"
        try:
            return (await self._stub.GetSession(pb.GetSessionRequest(name=name),
                                                **self._link.options(self._timeout, organization))).session
        except grpc.aio.AioRpcError as error:
            raise self._error(name, error) from error

    @staticmethod
    def _error(name: str, error: grpc.aio.AioRpcError) -> Exception:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return NotFound(name, reason="SESSION_NOT_FOUND")
        return Unavailable(f"the transcript service could not be read ({error.code().name})",
                           reason="TRANSCRIPT_UNAVAILABLE")

    async def window(self, organization: str, session_id: str, up_to_sequence: int, size: int) -> Window:
        name = f"sessions/{session_id}"
        options = self._link.options(self._timeout, organization)
        try:
            # Both at once: one round trip to the transcript service instead of two.
            got, listed = await asyncio.gather(
                self._stub.GetSession(pb.GetSessionRequest(name=name), **options),
                self._stub.ListMessages(pb.ListMessagesRequest(parent=name, last_n=size, up_to_sequence=up_to_sequence),
                                        **options))
            session = got.session
        except grpc.aio.AioRpcError as error:
            raise self._error(name, error) from error
        blueprint = blueprint_name(session.blueprint) or "sales"
        turns = tuple(Turn(m.sequence, _ROLES[m.role], m.text) for m in listed.messages if m.role in _ROLES)
        return Window(blueprint, listed.last_durable_sequence, turns, session.current_persona or session.persona,
                      session.scenario)

    async def ended_call(self, organization: str, session_id: str) -> EndedCall:
        """Every message of an ended session; FAILED_PRECONDITION while it is still live."""
        name = f"sessions/{session_id}"
        options = self._link.options(self._timeout, organization)
        turns: list[Turn] = []
        try:
            got = await self._stub.GetSession(pb.GetSessionRequest(name=name), **options)
            session = got.session
            if session.state != pb.SESSION_STATE_ENDED:
                raise FailedPrecondition(f"{name} has not ended yet", reason="SESSION_NOT_ENDED")
            token = ""
            while True:
                request = pb.ListMessagesRequest(parent=name, page_size=1000, page_token=token)
                page = await self._stub.ListMessages(request, **options)
                turns.extend(Turn(m.sequence, _ROLES[m.role], m.text) for m in page.messages if m.role in _ROLES)
                token = page.next_page_token
                if not token:
                    break
            handoffs = (await self._handoffs.ListHandoffs(handoff_service_pb2.ListHandoffsRequest(parent=name),
                                                          **options)).handoffs
        except grpc.aio.AioRpcError as error:
            raise self._error(name, error) from error
        blueprint = blueprint_name(session.blueprint) or "sales"
        # Handoffs the gateway never accepted changed no turn.
        handovers = tuple((h.accepted_persona, h.first_sequence) for h in handoffs if h.first_sequence)
        return EndedCall(session.persona, blueprint, tuple(turns), session.scenario, handovers)
