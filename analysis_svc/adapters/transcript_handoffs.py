"""Applied handoff suggestions become handoffs of the live call, through the transcript service."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client import Histogram
from sparring.transcript.v1 import handoff_service_pb2 as pb
from sparring.transcript.v1 import handoff_service_pb2_grpc

from analysis_svc.domain.switching import SwitchingRule
from svckit.errors import FailedPrecondition, NotFound, ResourceExhausted, Unavailable
from svckit.statuses import relayed
from svckit.transport import ServiceLink

HANDOFF_START_SECONDS = Histogram("sparring_switching_handoff_start_seconds",
                                  "Time the transcript service took to start a handoff a switching rule asked for",
                                  buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5))
# The transcript service's refusals the interviewer can act on, passed on with their reason.
_REFUSALS = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT)


def _reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return "HANDOFF_REFUSED"


class TranscriptHandoffs:
    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._link = link
        self._stub = handoff_service_pb2_grpc.HandoffServiceStub(link.channel)
        self._timeout = timeout_seconds

    async def start(self, organization: str, session_id: str, suggestion_name: str, rule: SwitchingRule) -> str:
        """Starts the handoff; returns the name of the command carrying it. Idempotent on the suggestion."""
        request = pb.StartHandoffRequest(
            parent=f"sessions/{session_id}", handoff=pb.Handoff(to_persona=rule.to_persona, reason=rule.reason),
            fallback_personas=rule.fallback_personas, request_id=suggestion_name)
        try:
            with HANDOFF_START_SECONDS.time():
                started = await self._stub.StartHandoff(request, **self._link.options(self._timeout, organization))
            return started.handoff.command
        except grpc.aio.AioRpcError as error:
            if error.code() in _REFUSALS:
                raise FailedPrecondition(f"sessions/{session_id} cannot be handed over: {error.details()}",
                                         reason=_reason(error), metadata={"rule": rule.resource_name}) from error
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                # The persona's safety policy limits actions: when to try again is the transcript service's.
                raise relayed(error, ResourceExhausted) from error
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"sessions/{session_id}", reason="SESSION_NOT_FOUND") from error
            raise Unavailable(f"the transcript service could not start the handoff ({error.code().name})",
                              reason="TRANSCRIPT_UNAVAILABLE") from error
