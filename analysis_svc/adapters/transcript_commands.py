"""Applied suggestions become commands on the live call, through the transcript service."""

from __future__ import annotations

import grpc
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from analysis_svc.domain.suggestions import Suggestion, SuggestionType
from svckit.errors import FailedPrecondition, NotFound, ResourceExhausted, Unavailable
from svckit.statuses import relayed
from svckit.transport import ServiceLink

_COMMAND_TYPES = {SuggestionType.CONTEXT_INJECTION: pb.COMMAND_TYPE_CONTEXT_INJECTION,
                  SuggestionType.CURVEBALL: pb.COMMAND_TYPE_CURVEBALL}


class TranscriptCommands:
    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._link = link
        self._stub = transcript_service_pb2_grpc.TranscriptServiceStub(link.channel)
        self._timeout = timeout_seconds

    async def send(self, organization: str, session_id: str, suggestion_name: str, suggestion: Suggestion) -> str:
        """Sends the suggestion to the live call; returns the command's name. Idempotent on the suggestion."""
        request = pb.SendCommandRequest(
            parent=f"sessions/{session_id}",
            command=pb.Command(type=_COMMAND_TYPES[suggestion.type], text=suggestion.text, label=suggestion.label,
                               source=pb.COMMAND_SOURCE_AI_SUGGESTED, suggestion=suggestion_name),
            request_id=suggestion_name,
        )
        try:
            sent = await self._stub.SendCommand(request, **self._link.options(self._timeout, organization))
            return sent.command.name
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                # The session has ended, or the persona's safety policy refuses the command: the same reason.
                raise relayed(error, FailedPrecondition) from error
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                # The persona's safety policy limits commands: when to try again is the transcript service's.
                raise relayed(error, ResourceExhausted) from error
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"sessions/{session_id}", reason="SESSION_NOT_FOUND") from error
            raise Unavailable(f"the transcript service could not take the command ({error.code().name})",
                              reason="TRANSCRIPT_UNAVAILABLE") from error
