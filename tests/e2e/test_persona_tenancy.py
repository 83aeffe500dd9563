"""Organizations and owners through a real persona server: a persona, version, scenario or archetype of another
organization is NOT_FOUND exactly as one that does not exist, lists and searches hold only the caller's
organization, two organizations may hold the same ids, and personas and scenarios are changed by their owners and
the organization's admins."""

from __future__ import annotations

import grpc
import pytest
import pytest_asyncio
from grpc_status import rpc_status
from sparring.persona.v1 import persona_service_pb2 as pb
from sparring.persona.v1.persona_service_pb2_grpc import PersonaServiceStub

from tests.builders import field_mask, new_persona, uid
from tests.e2e.status_details import rejected_in
from tests.e2e.test_persona_api import create, list_all, search_names
from tests.security import OTHER_ORGANIZATION, token

DOMAIN = "persona.sparring.dev"
AUTHOR_SUBJECT = "author@acme"  # the subject of the `authors` fixture's token


@pytest_asyncio.fixture(scope="session")
async def globex(persona_server, connect) -> PersonaServiceStub:
    """An admin of another organization."""
    return PersonaServiceStub(connect(persona_server, token("admin", organization=OTHER_ORGANIZATION)))


@pytest_asyncio.fixture(scope="session")
async def initech(persona_server, connect) -> PersonaServiceStub:
    """An admin of an organization that holds nothing: what it is told is what "does not exist" looks like."""
    return PersonaServiceStub(connect(persona_server, token("admin", organization="initech")))


@pytest_asyncio.fixture(scope="session")
async def other_author(persona_server, connect) -> PersonaServiceStub:
    """An author of the test organization who owns nothing the tests create."""
    return PersonaServiceStub(connect(persona_server, token("author", subject="other-author@acme")))


async def refusal(call) -> tuple:
    """All a refused call says: its code, message and rich status."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value.code(), raised.value.details(), rpc_status.from_call(raised.value)


async def test_every_call_on_another_organizations_persona_is_not_found_as_if_it_did_not_exist(
        personas, globex, initech):
    created = await create(personas)
    name = created.name
    version = f"{name}/versions/1"
    calls = (
        lambda stub: stub.GetPersona(pb.GetPersonaRequest(name=name)),
        lambda stub: stub.UpdatePersona(pb.UpdatePersonaRequest(persona=pb.Persona(name=name, difficulty=5),
                                                                update_mask=field_mask("difficulty"))),
        lambda stub: stub.DeletePersona(pb.DeletePersonaRequest(name=name)),
        lambda stub: stub.UndeletePersona(pb.UndeletePersonaRequest(name=name)),
        lambda stub: stub.RollbackPersona(pb.RollbackPersonaRequest(name=name, version=version)),
        lambda stub: stub.GetPersonaVersion(pb.GetPersonaVersionRequest(name=version)),
        lambda stub: stub.ListPersonaVersions(pb.ListPersonaVersionsRequest(parent=name)),
        lambda stub: stub.RenderPrompt(pb.RenderPromptRequest(persona=name)),
    )
    for call in calls:
        await rejected_in(DOMAIN, call(globex), grpc.StatusCode.NOT_FOUND)
        assert await refusal(call(globex)) == await refusal(call(initech))
    assert (await personas.GetPersona(pb.GetPersonaRequest(name=name))).persona == created


async def test_scenarios_and_archetypes_of_another_organization_are_not_found_as_if_they_did_not_exist(
        personas, globex, initech):
    scenario = (await personas.CreateScenario(pb.CreateScenarioRequest(
        scenario=pb.Scenario(display_name="Q2 cost review"), scenario_id=f"q2-{uid()}"))).scenario
    archetype_id = f"owl-{uid()}"
    await personas.CreateArchetype(pb.CreateArchetypeRequest(archetype=pb.Archetype(display_name="Owl"),
                                                             archetype_id=archetype_id))
    calls = (
        lambda stub: stub.GetScenario(pb.GetScenarioRequest(name=scenario.name)),
        lambda stub: stub.UpdateScenario(pb.UpdateScenarioRequest(
            scenario=pb.Scenario(name=scenario.name, display_name="Renamed"), update_mask=field_mask("display_name"))),
        lambda stub: stub.DeleteScenario(pb.DeleteScenarioRequest(name=scenario.name)),
        lambda stub: stub.GetArchetype(pb.GetArchetypeRequest(name=f"archetypes/{archetype_id}")),
    )
    for call in calls:
        await rejected_in(DOMAIN, call(globex), grpc.StatusCode.NOT_FOUND)
        assert await refusal(call(globex)) == await refusal(call(initech))
    # A persona of the other organization cannot name this organization's archetype either.
    used = new_persona(archetype=f"archetypes/{archetype_id}")
    assert await refusal(globex.CreatePersona(pb.CreatePersonaRequest(persona=used))) == await refusal(
        initech.CreatePersona(pb.CreatePersonaRequest(persona=used)))
    assert (await personas.GetScenario(pb.GetScenarioRequest(name=scenario.name))).scenario == scenario


async def test_lists_and_searches_hold_only_the_callers_organization(personas, globex):
    word = uid()
    ours = await create(personas, new_persona(display_name=f"Ours {word}", domains=[word]))
    theirs = await create(globex, new_persona(display_name=f"Theirs {word}", domains=[word]))
    assert [p.name for p in await list_all(personas, domain=word, show_deleted=True)] == [ours.name]
    assert [p.name for p in await list_all(globex, domain=word, show_deleted=True)] == [theirs.name]
    assert await search_names(personas, word) == [ours.name]
    assert await search_names(globex, word) == [theirs.name]

    industry = f"industry-{uid()}"
    await personas.CreateScenario(pb.CreateScenarioRequest(scenario=pb.Scenario(display_name="Ours",
                                                                                industry=industry)))
    assert (await globex.ListScenarios(pb.ListScenariosRequest(industry=industry))).scenarios == []
    archetype_id = f"lamb-{uid()}"
    await personas.CreateArchetype(pb.CreateArchetypeRequest(archetype=pb.Archetype(display_name="Lamb"),
                                                             archetype_id=archetype_id))
    listed = (await globex.ListArchetypes(pb.ListArchetypesRequest(page_size=1000))).archetypes
    assert f"archetypes/{archetype_id}" not in [a.name for a in listed]


async def test_two_organizations_each_hold_the_same_ids_and_slugs(personas, globex):
    persona_id, scenario_id, archetype_id, slug = (f"{kind}-{uid()}" for kind in ("twin", "scene", "arch", "slug"))
    for stub, label in ((personas, "Acme"), (globex, "Globex")):
        await stub.CreateArchetype(pb.CreateArchetypeRequest(archetype=pb.Archetype(display_name=label),
                                                             archetype_id=archetype_id))
        await stub.CreateScenario(pb.CreateScenarioRequest(scenario=pb.Scenario(display_name=label),
                                                           scenario_id=scenario_id))
        await create(stub, new_persona(slug=slug, display_name=label, archetype=f"archetypes/{archetype_id}"),
                     persona_id=persona_id)
        # Read at once, so the server's caches hold this organization's copy when the next one is created.
        assert (await stub.GetPersona(pb.GetPersonaRequest(name=f"personas/{persona_id}"))).persona.display_name \
            == label

    for stub, label in ((personas, "Acme"), (globex, "Globex")):
        persona = (await stub.GetPersona(pb.GetPersonaRequest(name=f"personas/{persona_id}"))).persona
        scenario = (await stub.GetScenario(pb.GetScenarioRequest(name=f"scenarios/{scenario_id}"))).scenario
        archetype = (await stub.GetArchetype(pb.GetArchetypeRequest(name=f"archetypes/{archetype_id}"))).archetype
        assert (persona.display_name, scenario.display_name, archetype.display_name) == (label, label, label)
        rendered = await stub.RenderPrompt(pb.RenderPromptRequest(persona=f"personas/{persona_id}",
                                                                  scenario=f"scenarios/{scenario_id}"))
        assert label in rendered.system_prompt
    again = await rejected_in(DOMAIN, create(globex, new_persona(), persona_id=persona_id),
                              grpc.StatusCode.ALREADY_EXISTS)
    assert again.reason == "PERSONA_EXISTS"


async def test_a_request_id_is_kept_per_organization(personas, globex):
    request_id = f"request-{uid()}"
    persona = new_persona()
    ours = await create(personas, persona, request_id=request_id)
    theirs = await create(globex, persona, request_id=request_id)
    assert ours.name != theirs.name
    assert await create(globex, persona, request_id=request_id) == theirs


async def test_a_service_acting_for_no_organization_sees_nothing(personas, persona_server, connect):
    created = await create(personas)
    service = PersonaServiceStub(connect(persona_server, token("service", organization="",
                                                               subject="service:transcript")))
    rejection = await rejected_in(DOMAIN, service.GetPersona(pb.GetPersonaRequest(name=created.name)),
                                  grpc.StatusCode.NOT_FOUND)
    assert rejection.reason == "RESOURCE_NOT_FOUND"
    assert (await service.ListPersonas(pb.ListPersonasRequest(page_size=10))).personas == []
    assert (await service.SearchPersonas(pb.SearchPersonasRequest(query=created.display_name))).results == []

    acting_for_acme = [("x-sparring-organization", "acme")]
    got = await service.GetPersona(pb.GetPersonaRequest(name=created.name), metadata=acting_for_acme)
    assert got.persona == created


# --- owners ---------------------------------------------------------------------------------------


async def test_only_the_owners_and_admins_change_a_persona_and_owners_hand_it_over(personas, authors, other_author):
    created = await create(authors)
    assert created.owners == [AUTHOR_SUBJECT]
    name = created.name
    attempts = (
        lambda: other_author.UpdatePersona(pb.UpdatePersonaRequest(
            persona=pb.Persona(name=name, difficulty=5), update_mask=field_mask("difficulty"))),
        lambda: other_author.UpdatePersona(pb.UpdatePersonaRequest(
            persona=pb.Persona(name=name, owners=["other-author@acme"]), update_mask=field_mask("owners"))),
        lambda: other_author.DeletePersona(pb.DeletePersonaRequest(name=name)),
        lambda: other_author.RollbackPersona(pb.RollbackPersonaRequest(name=name, version=f"{name}/versions/1")),
    )
    for attempt in attempts:
        rejection = await rejected_in(DOMAIN, attempt(), grpc.StatusCode.PERMISSION_DENIED)
        assert rejection.reason == "NOT_AN_OWNER"
    assert (await personas.GetPersona(pb.GetPersonaRequest(name=name))).persona == created

    handed = (await authors.UpdatePersona(pb.UpdatePersonaRequest(
        persona=pb.Persona(name=name, owners=[AUTHOR_SUBJECT, "other-author@acme"]),
        update_mask=field_mask("owners")))).persona
    assert handed.owners == [AUTHOR_SUBJECT, "other-author@acme"]
    changed = (await other_author.UpdatePersona(pb.UpdatePersonaRequest(
        persona=pb.Persona(name=name, difficulty=5), update_mask=field_mask("difficulty")))).persona
    assert changed.difficulty == 5
    deleted = (await personas.DeletePersona(pb.DeletePersonaRequest(name=name))).persona  # an admin may
    assert deleted.HasField("delete_time")


@pytest.mark.parametrize(("owners", "field"), [
    ([], "persona.owners"),
    ([AUTHOR_SUBJECT, AUTHOR_SUBJECT], "persona.owners[1]"),
    ([f"owner-{n}" for n in range(21)], "persona.owners"),
    ([AUTHOR_SUBJECT, "tab\tinside"], "persona.owners[1]"),
    (["x" * 201], "persona.owners[0]"),
])
async def test_bad_owners_are_refused_naming_the_field(personas, authors, owners, field):
    created = await create(authors)
    rejection = await rejected_in(DOMAIN, authors.UpdatePersona(pb.UpdatePersonaRequest(
        persona=pb.Persona(name=created.name, owners=owners), update_mask=field_mask("owners"))),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert field in rejection.fields
    assert (await personas.GetPersona(pb.GetPersonaRequest(name=created.name))).persona == created


async def test_a_scenario_is_changed_by_its_creator_or_an_admin(personas, authors, other_author):
    scenario = (await authors.CreateScenario(pb.CreateScenarioRequest(
        scenario=pb.Scenario(display_name="Q3 renewal")))).scenario
    rename = pb.UpdateScenarioRequest(scenario=pb.Scenario(name=scenario.name, display_name="Renamed"),
                                      update_mask=field_mask("display_name"))
    for attempt in (other_author.UpdateScenario(rename),
                    other_author.DeleteScenario(pb.DeleteScenarioRequest(name=scenario.name))):
        rejection = await rejected_in(DOMAIN, attempt, grpc.StatusCode.PERMISSION_DENIED)
        assert rejection.reason == "NOT_AN_OWNER"
    assert (await authors.UpdateScenario(rename)).scenario.display_name == "Renamed"
    await personas.DeleteScenario(pb.DeleteScenarioRequest(name=scenario.name))
    await rejected_in(DOMAIN, personas.GetScenario(pb.GetScenarioRequest(name=scenario.name)),
                      grpc.StatusCode.NOT_FOUND)
