"""The persona service as a handoff reads it: whether the new persona may take the call, its prompt, and what the
outgoing persona remembers of the candidate. Every call has the persona client's deadline and is timed."""

from __future__ import annotations

import asyncio

from prometheus_client import Histogram
from sparring.persona.v1 import memory_service_pb2 as memory_pb
from sparring.persona.v1 import memory_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as pb

from service_clients.persona import PersonaClient
from svckit.errors import FailedPrecondition
from transcript_svc.service_layer.ports import PersonaAvailability, RecalledMemory, RenderedPrompt

# The most facts of earlier rounds read for the commitments still open.
MAX_FACTS_READ = 100

HANDOFF_PERSONA_SECONDS = Histogram(
    "sparring_handoff_persona_call_seconds", "Time of each persona service call a handoff makes, by call",
    ["call"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5))


class HandoffPersonas:
    def __init__(self, personas: PersonaClient, memory: memory_service_pb2_grpc.MemoryServiceStub) -> None:
        self._personas = personas
        self._memory = memory

    async def availability(self, name: str) -> PersonaAvailability:
        with HANDOFF_PERSONA_SECONDS.labels("GetPersona").time():
            persona = await self._personas.persona(name)
        if persona is None:
            return PersonaAvailability("", "is unknown")
        if persona.HasField("delete_time"):
            return PersonaAvailability(persona.display_name, "is deleted")
        if not persona.active:
            return PersonaAvailability(persona.display_name, "is inactive")
        return PersonaAvailability(persona.display_name, "")

    async def render(self, persona: str, scenario: str, candidate: str, session: str) -> RenderedPrompt:
        with HANDOFF_PERSONA_SECONDS.labels("RenderPrompt").time():
            reply = await self._personas.find(self._personas.stub.RenderPrompt, pb.RenderPromptRequest(
                persona=persona, scenario=scenario, candidate=candidate, session=session if candidate else ""))
        if reply is None:
            raise FailedPrecondition(f"the persona service cannot render {persona} for {session} (its scenario "
                                     f"{scenario or '(none)'} is gone?)", reason="HANDOFF_RENDER_REFUSED",
                                     metadata={"resource": session, "field": "handoff.to_persona"})
        return RenderedPrompt(reply.system_prompt, reply.first_message)

    async def recall(self, persona: str, candidate: str) -> RecalledMemory:
        """The persona's working memory of the candidate, and the commitments the candidate made in earlier
        rounds that still hold."""
        scope = f"{persona}/{candidate}"

        async def working_memory() -> memory_pb.WorkingMemory:
            with HANDOFF_PERSONA_SECONDS.labels("GetWorkingMemory").time():
                return (await self._personas.call(self._memory.GetWorkingMemory, memory_pb.GetWorkingMemoryRequest(
                    name=f"{scope}/workingMemory"))).working_memory

        async def facts_read() -> list[memory_pb.Fact]:
            with HANDOFF_PERSONA_SECONDS.labels("ListFacts").time():
                return list((await self._personas.call(self._memory.ListFacts, memory_pb.ListFactsRequest(
                    parent=scope, page_size=MAX_FACTS_READ))).facts)

        memory, facts = await asyncio.gather(working_memory(), facts_read())
        commitments = tuple((fact.text, fact.name) for fact in facts if fact.kind == memory_pb.FACT_KIND_COMMITMENT)
        return RecalledMemory(dict(memory.scratchpad), tuple(memory.active_goals), commitments)
