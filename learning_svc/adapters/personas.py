"""What the learning service reads from the persona service: archetypes and personas, to check references
and to play personas in simulated calls."""

from __future__ import annotations

import grpc
from sparring.persona.v1 import persona_service_pb2 as pb
from sparring.persona.v1 import persona_service_pb2_grpc

from learning_svc.domain.simulation import SimulatedPersona
from svckit.errors import Unavailable


class PersonaDirectory:
    def __init__(self, address: str, timeout_seconds: float) -> None:
        self._channel = grpc.aio.insecure_channel(address)
        self._stub = persona_service_pb2_grpc.PersonaServiceStub(self._channel)
        self._timeout = timeout_seconds

    async def archetype_exists(self, name: str) -> bool:
        return await self._exists(self._stub.GetArchetype, pb.GetArchetypeRequest(name=name))

    async def persona_exists(self, name: str) -> bool:
        return await self._exists(self._stub.GetPersona, pb.GetPersonaRequest(name=name))

    async def simulated_persona(self, name: str) -> SimulatedPersona | None:
        """The persona as the simulator plays it; None when it no longer exists."""
        try:
            reply = await self._stub.GetPersona(pb.GetPersonaRequest(name=name), timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise _unavailable(error) from error
        return simulated(reply.persona)

    async def personas_of_archetype(self, archetype: str, limit: int) -> list[SimulatedPersona]:
        request = pb.ListPersonasRequest(archetype=archetype, active=True, page_size=limit)
        try:
            reply = await self._stub.ListPersonas(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise _unavailable(error) from error
        return [simulated(persona) for persona in reply.personas]

    async def _exists(self, method, request) -> bool:
        try:
            await method(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return False
            raise _unavailable(error) from error
        return True

    async def close(self) -> None:
        await self._channel.close()


def _unavailable(error: grpc.aio.AioRpcError) -> Unavailable:
    return Unavailable(f"the persona service could not be read ({error.code().name}: {error.details()})",
                       reason="PERSONA_SERVICE_UNAVAILABLE")


def simulated(persona: pb.Persona) -> SimulatedPersona:
    return SimulatedPersona(
        persona=persona.name,
        display_name=persona.display_name,
        archetype=persona.archetype,
        difficulty=persona.difficulty,
        blueprint=pb.Blueprint.Name(persona.blueprint),
        personality_traits=tuple(persona.personality_traits),
        traits={trait.name: trait.value for trait in persona.traits},
        communication_style=persona.communication_style,
        language_style=pb.LanguageStyle.Name(persona.config.language_style),
        emotional_style=pb.EmotionalStyle.Name(persona.config.emotional_style),
        beliefs=tuple(belief.text for belief in persona.beliefs),
        objection_patterns=tuple(persona.objection_patterns),
        domains=tuple(persona.domains),
    )
