"""The persona service's VoiceAgentService as the transcript service's VoiceAgents port: one call per round start,
made with this service's own identity for the organization of the call being served.

What the persona service refuses (an unknown provider, a persona without voice or deleted) is relayed as the same
refusal, with its reason, metadata and field violations, so the caller of StartVoiceRound sees why; anything else
(no answer in time, a provider down) is Unavailable."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sparring.persona.v1 import voice_agent_service_pb2 as pb
from sparring.persona.v1 import voice_agent_service_pb2_grpc

from svckit.errors import DomainError, FailedPrecondition, FieldViolation, InvalidArgument, NotFound, Unavailable
from svckit.transport import ServiceLink
from transcript_svc.domain.voice_rounds import AgentGrant


def relayed(error: grpc.aio.AioRpcError) -> DomainError:
    """The persona service's refusal as this service's domain error."""
    info = error_details_pb2.ErrorInfo()
    bad_request = error_details_pb2.BadRequest()
    status = rpc_status.from_call(error)
    for detail in status.details if status is not None else ():
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(bad_request.DESCRIPTOR):
            detail.Unpack(bad_request)
    code, metadata = error.code(), dict(info.metadata)
    if code == grpc.StatusCode.INVALID_ARGUMENT and bad_request.field_violations:
        return InvalidArgument([FieldViolation(v.field, v.description) for v in bad_request.field_violations],
                               reason=info.reason or "INVALID_ARGUMENT")
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return FailedPrecondition(error.details() or "", reason=info.reason or "FAILED_PRECONDITION",
                                  metadata=metadata)
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(metadata.get("resource", "the session's persona or scenario"),
                        reason=info.reason or "RESOURCE_NOT_FOUND")
    if code == grpc.StatusCode.UNAVAILABLE and info.reason:  # a voice provider that did not answer, named
        return Unavailable(error.details() or "", reason=info.reason, metadata=metadata)
    return Unavailable(f"the persona service could not provision a voice agent ({code.name}: {error.details()})",
                       reason="PERSONA_SERVICE_UNAVAILABLE")


class VoiceAgentClient:
    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._link = link
        self._stub = voice_agent_service_pb2_grpc.VoiceAgentServiceStub(link.channel)
        self._timeout = timeout_seconds

    async def provision(self, session: str, persona: str, scenario: str, provider: str) -> AgentGrant:
        try:
            reply = await self._stub.ProvisionVoiceAgent(
                pb.ProvisionVoiceAgentRequest(persona=persona, scenario=scenario, provider=provider, session=session),
                **self._link.options(self._timeout))
        except grpc.aio.AioRpcError as error:
            raise relayed(error) from error
        agent = reply.voice_agent
        return AgentGrant(provider=agent.provider, voice_agent=agent.name, provider_agent_id=agent.provider_agent_id,
                          signed_url=reply.connection.signed_url, access_token=reply.connection.access_token,
                          reused=reply.reused)
