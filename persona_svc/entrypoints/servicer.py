"""PersonaService over gRPC: requests to use cases, results to responses, nothing else."""

from __future__ import annotations

import sys
from typing import TypeAlias

import grpc
from sparring.persona.v1 import persona_service_pb2 as pb
from sparring.persona.v1 import persona_service_pb2_grpc

from persona_svc.domain.model import PersonaFilter
from persona_svc.entrypoints import convert
from persona_svc.entrypoints.memory_servicer import MEMORY_SOURCES, applied_memory_message
from persona_svc.service_layer.catalogue import Catalogue
from persona_svc.service_layer.memory import PersonaMemory, RememberedPrompt
from svckit.context import current_call
from svckit.errors import FieldViolation, InvalidArgument
from svckit.fieldmask import resolve_update_mask
from svckit.memo import ResponseMemo
from svckit.usecase import mutation_of

# Handlers read nothing from the call's context: request context and errors are handled around them.
Context: TypeAlias = grpc.aio.ServicerContext


def _organization() -> str:
    """The organization whose resources this call reads: the caller's, or the one a service acts for."""
    return current_call().organization


def _persona_id(name: str, field: str = "name") -> str:
    return convert.resource_id(name, "personas", field)


def _render_response(remembered: RememberedPrompt, persona: str) -> pb.RenderPromptResponse:
    rendered = remembered.rendered
    return pb.RenderPromptResponse(
        system_prompt=remembered.system_prompt,
        first_message=rendered.first_message,
        difficulty_instructions=rendered.difficulty_instructions,
        applied_patches=[pb.AppliedPatch(patch=p.name, target=p.target.value, text=p.text, candidate=p.candidate)
                         for p in rendered.applied_patches],
        patch_source=convert.patch_source(rendered.patch_source),
        persona_revision=rendered.persona_revision,
        applied_memory=[applied_memory_message(item) for item in remembered.memory.items],
        memory_source=MEMORY_SOURCES[remembered.memory.source],
        memory_truncated=remembered.memory.truncated,
        patches_age=convert.age(rendered.patches_confirm_time),
        experiment=rendered.experiment,
        experiment_variant=rendered.experiment_variant,
        persona=persona,
        withheld_patches=rendered.withheld_patches,
    )


class PersonaServicer(persona_service_pb2_grpc.PersonaServiceServicer):
    def __init__(self, catalogue: Catalogue, memories: PersonaMemory) -> None:
        self._catalogue = catalogue
        self._memories = memories
        # Keyed by (organization, persona id): two organizations may each hold a persona of the same id.
        self._get_responses = ResponseMemo(lambda p: pb.GetPersonaResponse(persona=convert.persona_message(p)))
        self._persona_messages = ResponseMemo(convert.persona_message)
        # The same rendering (its memory section included) is answered with the same message, built once.
        self._render_responses = ResponseMemo(_render_response)

    async def GetPersona(self, request: pb.GetPersonaRequest, context: Context) -> pb.GetPersonaResponse:
        organization = _organization()
        persona = await self._catalogue.get_persona(organization, _persona_id(request.name))
        return self._get_responses.response((organization, persona.id), persona)

    async def ListPersonas(self, request: pb.ListPersonasRequest, context: Context) -> pb.ListPersonasResponse:
        where = PersonaFilter(
            blueprint=convert.blueprint_filter(request.blueprint, "blueprint"),
            min_difficulty=request.min_difficulty or None,
            max_difficulty=request.max_difficulty or None,
            archetype_id=convert.archetype_id_of(request.archetype, "archetype") or None,
            domain=request.domain or None,
            active=request.active if request.HasField("active") else None,
            show_deleted=request.show_deleted,
        )
        organization = _organization()
        page = await self._catalogue.list_personas(organization, where, request.page_size, request.page_token)
        return pb.ListPersonasResponse(
            personas=[self._persona_messages.response((organization, p.id), p) for p in page.items],
            next_page_token=page.next_page_token,
        )

    async def CreatePersona(self, request: pb.CreatePersonaRequest, context: Context) -> pb.CreatePersonaResponse:
        persona = await self._catalogue.create_persona(
            convert.persona_fields(request.persona), request.persona_id, mutation_of(request)
        )
        return pb.CreatePersonaResponse(persona=convert.persona_message(persona))

    async def UpdatePersona(self, request: pb.UpdatePersonaRequest, context: Context) -> pb.UpdatePersonaResponse:
        persona_id = _persona_id(request.persona.name, "persona.name")
        mask = resolve_update_mask(request.update_mask, convert.PERSONA_WRITABLE, convert.PERSONA_OUTPUT_ONLY)
        if list(request.update_mask.paths) == ["*"]:
            # A full replacement keeps who may change the persona: owners change only when named.
            mask -= {"owners"}
        domain_mask = frozenset(convert.PERSONA_FIELD_NAMES.get(name, name) for name in mask)
        persona = await self._catalogue.update_persona(
            persona_id, convert.persona_fields(request.persona), domain_mask, request.persona.etag,
            mutation_of(request),
        )
        return pb.UpdatePersonaResponse(persona=convert.persona_message(persona))

    async def DeletePersona(self, request: pb.DeletePersonaRequest, context: Context) -> pb.DeletePersonaResponse:
        persona = await self._catalogue.delete_persona(_persona_id(request.name), request.etag, mutation_of(request))
        return pb.DeletePersonaResponse(persona=convert.persona_message(persona))

    async def UndeletePersona(self, request: pb.UndeletePersonaRequest, context: Context) -> pb.UndeletePersonaResponse:
        persona = await self._catalogue.undelete_persona(_persona_id(request.name), request.etag,
                                                         mutation_of(request))
        return pb.UndeletePersonaResponse(persona=convert.persona_message(persona))

    async def GetPersonaVersion(self, request: pb.GetPersonaVersionRequest,
                                context: Context) -> pb.GetPersonaVersionResponse:
        persona_id, revision = convert.version_ref(request.name, "name")
        version = await self._catalogue.get_version(_organization(), persona_id, revision)
        return pb.GetPersonaVersionResponse(version=convert.version_message(version))

    async def ListPersonaVersions(self, request: pb.ListPersonaVersionsRequest,
                                  context: Context) -> pb.ListPersonaVersionsResponse:
        page = await self._catalogue.list_versions(_organization(), _persona_id(request.parent, "parent"),
                                                   request.page_size, request.page_token)
        return pb.ListPersonaVersionsResponse(
            versions=[convert.version_message(v) for v in page.items], next_page_token=page.next_page_token
        )

    async def RollbackPersona(self, request: pb.RollbackPersonaRequest, context: Context) -> pb.RollbackPersonaResponse:
        persona_id = _persona_id(request.name)
        version_persona, revision = convert.version_ref(request.version, "version")
        if version_persona != persona_id:
            raise InvalidArgument(FieldViolation("version", f"is a version of personas/{version_persona}, "
                                                            f"not of {request.name}"))
        persona = await self._catalogue.rollback_persona(persona_id, revision, request.etag, mutation_of(request))
        return pb.RollbackPersonaResponse(persona=convert.persona_message(persona))

    async def RecordVariantPromotion(self, request: pb.RecordVariantPromotionRequest,
                                     context: Context) -> pb.RecordVariantPromotionResponse:
        persona_id = _persona_id(request.name)
        promotion = convert.variant_promotion(request.promotion)
        persona, version = await self._catalogue.record_variant_promotion(persona_id, promotion, mutation_of(request))
        return pb.RecordVariantPromotionResponse(persona=convert.persona_message(persona),
                                                 version=convert.version_message(version))

    async def SearchPersonas(self, request: pb.SearchPersonasRequest, context: Context) -> pb.SearchPersonasResponse:
        hits = await self._catalogue.search(_organization(), request.query,
                                            convert.blueprint_filter(request.blueprint, "blueprint"), request.page_size)
        return pb.SearchPersonasResponse(
            results=[pb.SearchResult(persona=convert.persona_message(h.persona), relevance=h.relevance)
                     for h in hits]
        )

    async def RenderPrompt(self, request: pb.RenderPromptRequest, context: Context) -> pb.RenderPromptResponse:
        session_id = convert.resource_id(request.session, "sessions", "session") if request.session else ""
        # Without a persona, the one playing the session.
        persona_id = _persona_id(request.persona, "persona") if request.persona or not session_id else ""
        scenario_id = convert.resource_id(request.scenario, "scenarios", "scenario") if request.scenario else ""
        candidate_id = convert.resource_id(request.candidate, "candidates", "candidate") if request.candidate else ""
        candidates = convert.candidate_patches(request.candidate_patches)
        withheld = convert.withheld_patches(request.withheld_patches)
        organization = _organization()
        persona_id, remembered = await self._memories.render_prompt(organization, persona_id, scenario_id,
                                                                    candidate_id, session_id, candidates,
                                                                    current_call(), withheld)
        # Interned: the memo compares its sources by identity, and the id is parsed anew at every call.
        persona = sys.intern(f"personas/{persona_id}")
        # Never kept: its patches' age is the moment's, and candidates and withheld patches are this rendering's alone.
        if remembered.rendered.patches_confirm_time is not None or candidates or withheld:
            return _render_response(remembered, persona)
        return self._render_responses.response((organization, persona_id, scenario_id, candidate_id, session_id),
                                               remembered, persona)

    async def GetScenario(self, request: pb.GetScenarioRequest, context: Context) -> pb.GetScenarioResponse:
        scenario = await self._catalogue.get_scenario(_organization(),
                                                      convert.resource_id(request.name, "scenarios", "name"))
        return pb.GetScenarioResponse(scenario=convert.scenario_message(scenario))

    async def ListScenarios(self, request: pb.ListScenariosRequest, context: Context) -> pb.ListScenariosResponse:
        page = await self._catalogue.list_scenarios(_organization(), request.industry, request.page_size,
                                                    request.page_token)
        return pb.ListScenariosResponse(
            scenarios=[convert.scenario_message(s) for s in page.items], next_page_token=page.next_page_token
        )

    async def CreateScenario(self, request: pb.CreateScenarioRequest, context: Context) -> pb.CreateScenarioResponse:
        scenario = await self._catalogue.create_scenario(
            convert.scenario_fields(request.scenario), request.scenario_id, mutation_of(request)
        )
        return pb.CreateScenarioResponse(scenario=convert.scenario_message(scenario))

    async def UpdateScenario(self, request: pb.UpdateScenarioRequest, context: Context) -> pb.UpdateScenarioResponse:
        scenario_id = convert.resource_id(request.scenario.name, "scenarios", "scenario.name")
        mask = resolve_update_mask(request.update_mask, convert.SCENARIO_WRITABLE, convert.SCENARIO_OUTPUT_ONLY)
        scenario = await self._catalogue.update_scenario(
            scenario_id, convert.scenario_fields(request.scenario), mask, request.scenario.etag, mutation_of(request)
        )
        return pb.UpdateScenarioResponse(scenario=convert.scenario_message(scenario))

    async def DeleteScenario(self, request: pb.DeleteScenarioRequest, context: Context) -> pb.DeleteScenarioResponse:
        await self._catalogue.delete_scenario(convert.resource_id(request.name, "scenarios", "name"), request.etag,
                                              mutation_of(request))
        return pb.DeleteScenarioResponse()

    async def GetArchetype(self, request: pb.GetArchetypeRequest, context: Context) -> pb.GetArchetypeResponse:
        archetype = await self._catalogue.get_archetype(_organization(),
                                                        convert.resource_id(request.name, "archetypes", "name"))
        return pb.GetArchetypeResponse(archetype=convert.archetype_message(archetype))

    async def ListArchetypes(self, request: pb.ListArchetypesRequest, context: Context) -> pb.ListArchetypesResponse:
        page = await self._catalogue.list_archetypes(_organization(), request.page_size, request.page_token)
        return pb.ListArchetypesResponse(
            archetypes=[convert.archetype_message(a) for a in page.items], next_page_token=page.next_page_token
        )

    async def CreateArchetype(self, request: pb.CreateArchetypeRequest, context: Context) -> pb.CreateArchetypeResponse:
        archetype = await self._catalogue.create_archetype(
            convert.archetype_of(request.archetype, request.archetype_id), mutation_of(request)
        )
        return pb.CreateArchetypeResponse(archetype=convert.archetype_message(archetype))
