"""HandoffService over gRPC: requests to use cases, results to responses."""

from __future__ import annotations

from sparring.transcript.v1 import handoff_service_pb2 as pb
from sparring.transcript.v1 import handoff_service_pb2_grpc

from svckit import names
from svckit.context import current_call
from svckit.errors import FieldViolation, InvalidArgument
from svckit.usecase import mutation_of
from transcript_svc.entrypoints.convert import child_ref, session_id_of
from transcript_svc.entrypoints.handoff_convert import handoff_message, handoff_request
from transcript_svc.service_layer.handoffs import Handoffs


def _handoff_ref(name: str) -> tuple[str, str]:
    session_id, handoff_id = child_ref(name, "handoffs", "name")
    if not names.valid_id(handoff_id):
        raise InvalidArgument(FieldViolation("name", f"{handoff_id[:100]!r} is not a handoff id"))
    return session_id, handoff_id


class HandoffServicer(handoff_service_pb2_grpc.HandoffServiceServicer):
    def __init__(self, handoffs: Handoffs) -> None:
        self._handoffs = handoffs

    async def StartHandoff(self, request: pb.StartHandoffRequest, context) -> pb.StartHandoffResponse:
        session_id = session_id_of(request.parent, "parent")
        if request.handoff.to_persona:
            names.resource_id(request.handoff.to_persona, "personas", "handoff.to_persona")
        for index, fallback in enumerate(request.fallback_personas):
            names.resource_id(fallback, "personas", f"fallback_personas[{index}]")
        handoff = await self._handoffs.start_handoff(session_id, handoff_request(request), request.handoff_id,
                                                     mutation_of(request))
        return pb.StartHandoffResponse(handoff=handoff_message(handoff))

    async def GetHandoff(self, request: pb.GetHandoffRequest, context) -> pb.GetHandoffResponse:
        handoff = await self._handoffs.get_handoff(current_call().principal, *_handoff_ref(request.name))
        return pb.GetHandoffResponse(handoff=handoff_message(handoff))

    async def ListHandoffs(self, request: pb.ListHandoffsRequest, context) -> pb.ListHandoffsResponse:
        handoffs = await self._handoffs.list_handoffs(current_call().principal,
                                                      session_id_of(request.parent, "parent"))
        return pb.ListHandoffsResponse(handoffs=[handoff_message(h) for h in handoffs])
