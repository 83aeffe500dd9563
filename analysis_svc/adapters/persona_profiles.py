"""The persona as the auditor needs it, from the persona service."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from sparring.persona.v1 import persona_service_pb2 as pb
from sparring.persona.v1 import persona_service_pb2_grpc

from calls.persona_audit import PersonaProfile
from svckit.errors import FailedPrecondition, Unavailable


@dataclass(frozen=True)
class AuditedPersona:
    name: str
    display_name: str
    profile: PersonaProfile


class PersonaProfiles:
    def __init__(self, address: str, timeout_seconds: float) -> None:
        self._channel = grpc.aio.insecure_channel(address)
        self._stub = persona_service_pb2_grpc.PersonaServiceStub(self._channel)
        self._timeout = timeout_seconds

    async def persona(self, name: str) -> AuditedPersona:
        try:
            persona = (await self._stub.GetPersona(pb.GetPersonaRequest(name=name), timeout=self._timeout)).persona
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise FailedPrecondition(f"the session's persona {name} cannot be read: {error.details()}",
                                         reason="PERSONA_NOT_FOUND") from error
            raise Unavailable(f"the persona service could not be read ({error.code().name})",
                              reason="PERSONA_UNAVAILABLE") from error
        profile = PersonaProfile(
            archetype=persona.archetype.removeprefix("archetypes/"),
            difficulty=persona.difficulty,
            personality_traits=tuple(persona.personality_traits),
            traits={t.name: t.value for t in persona.traits},
        )
        return AuditedPersona(persona.name, persona.display_name, profile)

    async def close(self) -> None:
        await self._channel.close()
