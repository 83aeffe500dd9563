"""What the learning service reads from the persona service: archetypes and personas, to check references
and to play personas in simulated calls."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format
from sparring.persona.v1 import persona_service_pb2 as pb

from learning_svc.domain.patches import PatchChange
from learning_svc.domain.simulation import SimulatedPersona
from learning_svc.service_layer.ports import Rendering
from service_clients.persona import PersonaClient
from svckit.records import to_record


class PersonaDirectory(PersonaClient):
    async def archetype_exists(self, name: str) -> bool:
        return await self.find(self.stub.GetArchetype, pb.GetArchetypeRequest(name=name)) is not None

    async def archetype_guidance(self, name: str, organization: str | None = None) -> str:
        reply = await self.find(self.stub.GetArchetype, pb.GetArchetypeRequest(name=name), organization)
        return reply.archetype.voice_guidance if reply is not None else ""

    async def rendering(self, name: str, organization: str, candidates: Sequence[tuple[str, PatchChange]] = (),
                        withheld: Sequence[str] = (), scenario: str = "") -> Rendering:
        request = pb.RenderPromptRequest(persona=name, scenario=scenario, withheld_patches=withheld,
                                         candidate_patches=[candidate_patch(candidate, change)
                                                            for candidate, change in candidates])
        if candidates or withheld:
            # A refused candidate or withheld patch is an error, never an empty prompt to validate a change on.
            reply = await self.call(self.stub.RenderPrompt, request, organization)
        else:
            reply = await self.find(self.stub.RenderPrompt, request, organization)
            if reply is None:
                return Rendering("")
        return Rendering(reply.system_prompt, tuple(patch.patch for patch in reply.applied_patches))

    async def record_promotion(self, organization: str, persona: str, promotion: dict[str, Any]) -> None:
        """Has the persona service write the version recording ``promotion`` (once per experiment); raises
        grpc.aio.AioRpcError when it refuses or cannot be reached, for the outbox to retry."""
        await self.stub.RecordVariantPromotion(pb.RecordVariantPromotionRequest(
            name=persona, promotion=json_format.ParseDict(promotion, pb.VariantPromotion())),
            **self._link.options(self._timeout, organization))

    async def persona_exists(self, name: str) -> bool:
        return await self.persona(name) is not None

    async def scenario_exists(self, name: str, organization: str | None = None) -> bool:
        return await self.scenario(name, organization) is not None

    async def simulated_persona(self, name: str, organization: str) -> SimulatedPersona | None:
        """The organization's persona as the simulator plays it; None when it no longer exists."""
        persona = await self.persona(name, organization)
        return simulated(persona) if persona is not None else None

    async def personas_of_archetype(self, archetype: str, limit: int, organization: str) -> list[SimulatedPersona]:
        reply = await self.call(self.stub.ListPersonas,
                                pb.ListPersonasRequest(archetype=archetype, active=True, page_size=limit), organization)
        return [simulated(persona) for persona in reply.personas]


def candidate_patch(name: str, change: PatchChange) -> pb.CandidatePatch:
    """A patch not published, as RenderPrompt takes it: its fields and enum values are named as a PromptPatch's."""
    fields = {key: value for key, value in to_record(change).items() if value is not None}
    return json_format.ParseDict({**fields, "name": name}, pb.CandidatePatch())


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
