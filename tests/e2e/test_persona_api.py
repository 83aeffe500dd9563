"""PersonaService through a real grpc.aio server and stub: CRUD, lists, versions, scenarios, archetypes,
rendering, search, protected personas and idempotent retries."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sparring.persona.v1 import persona_service_pb2 as pb
from sparring.persona.v1.persona_service_pb2_grpc import PersonaServiceStub

from persona_svc.domain.templates import DIFFICULTY_INSTRUCTIONS
from tests.builders import new_persona, uid
from tests.e2e.status_details import reason_and_fields
from tests.security import ADMIN_SUBJECT, token

OUTPUT_ONLY = ("name", "create_time", "update_time", "delete_time", "etag", "revision")


async def create(personas, persona: pb.Persona | None = None, metadata=None, **kwargs) -> pb.Persona:
    response = await personas.CreatePersona(
        pb.CreatePersonaRequest(persona=persona or new_persona(), **kwargs), metadata=metadata
    )
    return response.persona


def writable(persona: pb.Persona) -> pb.Persona:
    """The persona without its output-only fields and its owners (the creator is one), for comparing content."""
    copy = pb.Persona()
    copy.CopyFrom(persona)
    for field in (*OUTPUT_ONLY, "owners"):
        copy.ClearField(field)
    return copy


async def list_all(personas, **filters) -> list[pb.Persona]:
    found, token = [], ""
    while True:
        page = await personas.ListPersonas(pb.ListPersonasRequest(page_size=200, page_token=token, **filters))
        found.extend(page.personas)
        token = page.next_page_token
        if not token:
            return found


async def search_names(personas, query: str, **kwargs) -> list[str]:
    response = await personas.SearchPersonas(pb.SearchPersonasRequest(query=query, **kwargs))
    return [r.persona.name for r in response.results]


# --- CRUD -----------------------------------------------------------------------------------------


async def test_create_get_round_trips_every_field(personas):
    sent = new_persona(real_person=True, sources=["https://example.com/bio"])
    created = await create(personas, sent)
    assert created.name.startswith("personas/")
    assert created.revision == 1 and created.etag
    assert created.create_time.seconds > 0 and created.create_time == created.update_time
    assert not created.HasField("delete_time")
    assert writable(created) == sent
    assert created.owners == [ADMIN_SUBJECT]

    got = (await personas.GetPersona(pb.GetPersonaRequest(name=created.name))).persona
    assert got == created


async def test_create_with_client_chosen_id(personas):
    persona_id = f"chosen-{uid()}"
    created = await create(personas, persona_id=persona_id)
    assert created.name == f"personas/{persona_id}"
    got = await personas.GetPersona(pb.GetPersonaRequest(name=f"personas/{persona_id}"))
    assert got.persona.slug == created.slug


async def test_update_with_field_mask_and_etag_changes_only_masked_fields(personas):
    created = await create(personas)
    change = pb.Persona(name=created.name, etag=created.etag, display_name="Renamed Person", difficulty=5,
                        description="this is not in the mask")
    updated = (await personas.UpdatePersona(pb.UpdatePersonaRequest(
        persona=change, update_mask=field_mask_pb2.FieldMask(paths=["display_name", "difficulty"])))).persona
    assert updated.display_name == "Renamed Person"
    assert updated.difficulty == 5
    assert updated.description == created.description
    assert list(updated.traits) == list(created.traits)
    assert updated.revision == 2 and updated.etag != created.etag
    assert updated.create_time == created.create_time
    assert updated.update_time.ToDatetime() > created.update_time.ToDatetime()
    got = (await personas.GetPersona(pb.GetPersonaRequest(name=created.name))).persona
    assert got == updated


async def test_update_without_etag_and_with_star_mask(personas):
    created = await create(personas)
    replacement = new_persona(slug=created.slug, display_name="Entirely New", blueprint=pb.BLUEPRINT_HR,
                              traits=[], modes=[], config=pb.PersonaConfig())
    replacement.name = created.name
    updated = (await personas.UpdatePersona(pb.UpdatePersonaRequest(
        persona=replacement, update_mask=field_mask_pb2.FieldMask(paths=["*"])))).persona
    assert writable(updated) == writable(replacement)
    assert updated.revision == 2


async def test_update_of_nested_message_and_lists(personas):
    created = await create(personas)
    change = pb.Persona(
        name=created.name,
        traits=[pb.Trait(name="extraversion", value=1.0, trait_type="OCEAN")],
        modes=[pb.Mode(mode="Mentor", enabled=True)],
        config=pb.PersonaConfig(default_mode="Mentor", humor_usage=pb.HUMOR_USAGE_HIGH),
        archetype="",
    )
    updated = (await personas.UpdatePersona(pb.UpdatePersonaRequest(
        persona=change, update_mask=field_mask_pb2.FieldMask(paths=["traits", "modes", "config"])))).persona
    assert [(t.name, t.value) for t in updated.traits] == [("extraversion", 1.0)]
    assert updated.config.default_mode == "Mentor"
    assert updated.config.humor_usage == pb.HUMOR_USAGE_HIGH
    assert updated.beliefs == created.beliefs


async def test_soft_delete_hides_from_list_and_search_and_undelete_restores(personas):
    tag = uid()
    created = await create(personas, new_persona(domains=[f"dom{tag}"], display_name=f"Hidden {tag}"))
    assert [p.name for p in await list_all(personas, domain=f"dom{tag}")] == [created.name]
    assert await search_names(personas, tag) == [created.name]

    deleted = (await personas.DeletePersona(pb.DeletePersonaRequest(name=created.name, etag=created.etag))).persona
    assert deleted.HasField("delete_time")
    assert deleted.revision == 2
    assert await list_all(personas, domain=f"dom{tag}") == []
    assert [p.name for p in await list_all(personas, domain=f"dom{tag}", show_deleted=True)] == [created.name]
    assert await search_names(personas, tag) == []
    assert await search_names(personas, f"dom{tag}") == []
    # A deleted persona can still be read, with its delete time.
    got = (await personas.GetPersona(pb.GetPersonaRequest(name=created.name))).persona
    assert got.HasField("delete_time")

    restored = (await personas.UndeletePersona(pb.UndeletePersonaRequest(name=created.name,
                                                                        etag=deleted.etag))).persona
    assert not restored.HasField("delete_time")
    assert restored.revision == 3
    assert writable(restored) == writable(created)
    assert [p.name for p in await list_all(personas, domain=f"dom{tag}")] == [created.name]
    assert await search_names(personas, tag) == [created.name]


async def test_deleting_twice_and_undeleting_a_live_persona_are_refused(personas):
    created = await create(personas)
    await personas.DeletePersona(pb.DeletePersonaRequest(name=created.name))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await personas.DeletePersona(pb.DeletePersonaRequest(name=created.name))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await personas.UndeletePersona(pb.UndeletePersonaRequest(name=created.name))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await personas.UndeletePersona(pb.UndeletePersonaRequest(name=created.name))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_deleted_persona_cannot_be_updated_or_rendered(personas):
    created = await create(personas)
    await personas.DeletePersona(pb.DeletePersonaRequest(name=created.name))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await personas.UpdatePersona(pb.UpdatePersonaRequest(
            persona=pb.Persona(name=created.name, display_name="x"),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"])))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await personas.RenderPrompt(pb.RenderPromptRequest(persona=created.name))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION


# --- lists ----------------------------------------------------------------------------------------


async def test_list_filters(personas):
    tag = uid()
    domain = f"dom{tag}"
    archetype = (await personas.CreateArchetype(pb.CreateArchetypeRequest(
        archetype=pb.Archetype(display_name="Owl", voice_guidance="Ask why."), archetype_id=f"owl-{tag}"))).archetype
    sales_easy = await create(personas, new_persona(domains=[domain, "saas"], blueprint=pb.BLUEPRINT_SALES,
                                                    difficulty=1, archetype=archetype.name))
    sales_mid = await create(personas, new_persona(domains=[domain], blueprint=pb.BLUEPRINT_SALES, difficulty=3,
                                                   active=False))
    security_hard = await create(personas, new_persona(domains=[domain], blueprint=pb.BLUEPRINT_SECURITY,
                                                       difficulty=5, archetype=archetype.name))
    hr_deleted = await create(personas, new_persona(domains=[domain], blueprint=pb.BLUEPRINT_HR, difficulty=2))
    await personas.DeletePersona(pb.DeletePersonaRequest(name=hr_deleted.name))

    async def names(**filters) -> set[str]:
        return {p.name for p in await list_all(personas, **filters)}

    assert await names(domain=domain) == {sales_easy.name, sales_mid.name, security_hard.name}
    assert await names(domain=domain, show_deleted=True) == {
        sales_easy.name, sales_mid.name, security_hard.name, hr_deleted.name,
    }
    assert await names(domain=domain, blueprint=pb.BLUEPRINT_SALES) == {sales_easy.name, sales_mid.name}
    assert await names(domain=domain, blueprint=pb.BLUEPRINT_HR) == set()
    assert await names(domain=domain, blueprint=pb.BLUEPRINT_HR, show_deleted=True) == {hr_deleted.name}
    assert await names(domain=domain, min_difficulty=2, max_difficulty=4) == {sales_mid.name}
    assert await names(domain=domain, min_difficulty=3) == {sales_mid.name, security_hard.name}
    assert await names(domain=domain, max_difficulty=1) == {sales_easy.name}
    assert await names(domain=domain, min_difficulty=2, max_difficulty=4, show_deleted=True) == {
        sales_mid.name, hr_deleted.name,
    }
    assert await names(archetype=archetype.name) == {sales_easy.name, security_hard.name}
    assert await names(archetype=archetype.name, blueprint=pb.BLUEPRINT_SECURITY) == {security_hard.name}
    assert await names(domain=domain, active=True) == {sales_easy.name, security_hard.name}
    assert await names(domain=domain, active=False) == {sales_mid.name}
    assert await names(domain=f"other{tag}") == set()


async def test_paging_through_all_pages_newest_first(personas):
    domain = f"dom{uid()}"
    created = [await create(personas, new_persona(domains=[domain])) for _ in range(7)]
    pages, token = [], ""
    while True:
        page = await personas.ListPersonas(pb.ListPersonasRequest(domain=domain, page_size=3, page_token=token))
        pages.append([p.name for p in page.personas])
        token = page.next_page_token
        if not token:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [name for page in pages for name in page] == [p.name for p in reversed(created)]


async def test_page_of_exactly_the_remaining_items_has_no_next_token(personas):
    domain = f"dom{uid()}"
    for _ in range(4):
        await create(personas, new_persona(domains=[domain]))
    first = await personas.ListPersonas(pb.ListPersonasRequest(domain=domain, page_size=2))
    second = await personas.ListPersonas(pb.ListPersonasRequest(domain=domain, page_size=2,
                                                                page_token=first.next_page_token))
    assert len(first.personas) == len(second.personas) == 2
    assert second.next_page_token == ""
    assert not {p.name for p in first.personas} & {p.name for p in second.personas}


# --- versions -------------------------------------------------------------------------------------


async def test_versions_and_rollback(personas):
    created = await create(personas)
    updated = (await personas.UpdatePersona(pb.UpdatePersonaRequest(
        persona=pb.Persona(name=created.name, display_name="Second Name", difficulty=4, etag=created.etag),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name", "difficulty"])))).persona
    deleted = (await personas.DeletePersona(pb.DeletePersonaRequest(name=created.name))).persona
    restored = (await personas.UndeletePersona(pb.UndeletePersonaRequest(name=created.name))).persona
    assert restored.revision == 4

    versions = (await personas.ListPersonaVersions(pb.ListPersonaVersionsRequest(parent=created.name))).versions
    assert [v.revision for v in versions] == [4, 3, 2, 1]
    assert [v.change_kind for v in versions] == [
        pb.CHANGE_KIND_UNDELETE, pb.CHANGE_KIND_DELETE, pb.CHANGE_KIND_UPDATE, pb.CHANGE_KIND_CREATE,
    ]
    assert [v.name for v in versions] == [f"{created.name}/versions/{n}" for n in (4, 3, 2, 1)]
    assert versions[3].snapshot == created
    assert versions[2].snapshot == updated
    assert versions[1].snapshot == deleted

    first = (await personas.GetPersonaVersion(pb.GetPersonaVersionRequest(name=f"{created.name}/versions/1"))).version
    assert first == versions[3]

    rolled = (await personas.RollbackPersona(pb.RollbackPersonaRequest(
        name=created.name, version=f"{created.name}/versions/1", etag=restored.etag))).persona
    assert rolled.revision == 5
    assert writable(rolled) == writable(created)
    assert rolled.display_name != updated.display_name
    assert rolled.create_time == created.create_time

    latest = (await personas.GetPersonaVersion(pb.GetPersonaVersionRequest(name=f"{created.name}/versions/5"))).version
    assert latest.change_kind == pb.CHANGE_KIND_ROLLBACK
    assert latest.restored_revision == 1
    assert latest.snapshot == rolled
    assert writable(latest.snapshot) == writable(first.snapshot)
    # Versions are immutable: the first one is unchanged by everything since.
    again = (await personas.GetPersonaVersion(pb.GetPersonaVersionRequest(name=f"{created.name}/versions/1"))).version
    assert again == first


async def test_versions_page(personas):
    created = await create(personas)
    for n in range(4):
        await personas.UpdatePersona(pb.UpdatePersonaRequest(
            persona=pb.Persona(name=created.name, description=f"edit {n}"),
            update_mask=field_mask_pb2.FieldMask(paths=["description"])))
    revisions, token = [], ""
    while True:
        page = await personas.ListPersonaVersions(pb.ListPersonaVersionsRequest(parent=created.name, page_size=2,
                                                                                page_token=token))
        revisions.append([v.revision for v in page.versions])
        token = page.next_page_token
        if not token:
            break
    assert revisions == [[5, 4], [3, 2], [1]]


# --- scenarios and archetypes ---------------------------------------------------------------------


async def test_scenario_crud(personas):
    tag = uid()
    industry = f"Logistics {tag}"
    created = (await personas.CreateScenario(pb.CreateScenarioRequest(scenario=pb.Scenario(
        display_name="Renewal at risk", company_size="mid-market (200-1000)", industry=industry,
        description="Unhappy customer", pain_points=["late shipments", "manual invoicing"],
        budget_range="$50k-$120k", decision_timeline="end of Q3")))).scenario
    assert created.name.startswith("scenarios/") and created.etag
    got = (await personas.GetScenario(pb.GetScenarioRequest(name=created.name))).scenario
    assert got == created

    listed = await personas.ListScenarios(pb.ListScenariosRequest(industry=industry.upper()))
    assert [s.name for s in listed.scenarios] == [created.name]

    updated = (await personas.UpdateScenario(pb.UpdateScenarioRequest(
        scenario=pb.Scenario(name=created.name, etag=created.etag, budget_range="$10k", pain_points=["churn"]),
        update_mask=field_mask_pb2.FieldMask(paths=["budget_range", "pain_points"])))).scenario
    assert updated.budget_range == "$10k" and list(updated.pain_points) == ["churn"]
    assert updated.display_name == created.display_name and updated.etag != created.etag

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await personas.UpdateScenario(pb.UpdateScenarioRequest(
            scenario=pb.Scenario(name=created.name, etag=created.etag, budget_range="$1"),
            update_mask=field_mask_pb2.FieldMask(paths=["budget_range"])))
    assert raised.value.code() == grpc.StatusCode.ABORTED

    await personas.DeleteScenario(pb.DeleteScenarioRequest(name=created.name, etag=updated.etag))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await personas.GetScenario(pb.GetScenarioRequest(name=created.name))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await personas.ListScenarios(pb.ListScenariosRequest(industry=industry))
    assert list(listed.scenarios) == []


async def test_scenarios_page(personas):
    industry = f"industry-{uid()}"
    created = []
    for n in range(3):
        created.append((await personas.CreateScenario(pb.CreateScenarioRequest(
            scenario=pb.Scenario(display_name=f"s{n}", industry=industry)))).scenario)
    first = await personas.ListScenarios(pb.ListScenariosRequest(industry=industry, page_size=2))
    second = await personas.ListScenarios(pb.ListScenariosRequest(industry=industry, page_size=2,
                                                                  page_token=first.next_page_token))
    assert [s.name for s in [*first.scenarios, *second.scenarios]] == [s.name for s in reversed(created)]
    assert second.next_page_token == ""


async def test_archetypes(personas):
    tag = uid()
    created = (await personas.CreateArchetype(pb.CreateArchetypeRequest(
        archetype=pb.Archetype(display_name="Lamb", description="Agreeable", voice_guidance="Soft and warm."),
        archetype_id=f"lamb-{tag}"))).archetype
    assert created.name == f"archetypes/lamb-{tag}"
    assert created.create_time.seconds > 0
    got = (await personas.GetArchetype(pb.GetArchetypeRequest(name=created.name))).archetype
    assert got == created

    names, token = [], ""
    while True:
        page = await personas.ListArchetypes(pb.ListArchetypesRequest(page_size=2, page_token=token))
        names.extend(a.name for a in page.archetypes)
        token = page.next_page_token
        if not token:
            break
    assert created.name in names
    assert names == sorted(names) and len(names) == len(set(names))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await personas.CreateArchetype(pb.CreateArchetypeRequest(
            archetype=pb.Archetype(display_name="Again"), archetype_id=f"lamb-{tag}"))
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS

    persona = await create(personas, new_persona(archetype=created.name))
    assert persona.archetype == created.name


# --- rendering ------------------------------------------------------------------------------------


async def test_render_prompt(personas):
    tag = uid()
    archetype = (await personas.CreateArchetype(pb.CreateArchetypeRequest(
        archetype=pb.Archetype(display_name="Owl", voice_guidance=f"Speak slowly {tag}."),
        archetype_id=f"owl-{tag}"))).archetype
    persona = await create(personas, new_persona(display_name="Sarah Chen", difficulty=4, archetype=archetype.name))
    scenario = (await personas.CreateScenario(pb.CreateScenarioRequest(scenario=pb.Scenario(
        display_name=f"Renewal {tag}", industry="logistics", company_size="mid-market",
        pain_points=["late shipments"])))).scenario

    rendered = await personas.RenderPrompt(pb.RenderPromptRequest(persona=persona.name, scenario=scenario.name))
    assert rendered.difficulty_instructions == DIFFICULTY_INSTRUCTIONS[4]
    assert DIFFICULTY_INSTRUCTIONS[4] in rendered.system_prompt
    for level in (1, 2, 3, 5):
        assert DIFFICULTY_INSTRUCTIONS[level] not in rendered.system_prompt
    assert "You are Sarah Chen, VP Finance at a Series C fintech." in rendered.system_prompt
    assert f"Scenario: Renewal {tag} (logistics, mid-market)." in rendered.system_prompt
    assert "- late shipments" in rendered.system_prompt
    assert f"Speak slowly {tag}." in rendered.system_prompt
    assert "Literal braces: {ok}" in rendered.system_prompt
    assert "{persona." not in rendered.system_prompt and "{scenario." not in rendered.system_prompt
    assert rendered.first_message == f"Hi, Sarah Chen here. You wanted to talk about Renewal {tag}?"
    assert list(rendered.applied_patches) == []
    assert rendered.patch_source == pb.PATCH_SOURCE_DISABLED
    assert rendered.persona_revision == 1


async def test_render_prompt_without_scenario_and_after_an_update(personas):
    persona = await create(personas, new_persona(difficulty=1))
    rendered = await personas.RenderPrompt(pb.RenderPromptRequest(persona=persona.name))
    assert "Scenario:  (, )." in rendered.system_prompt
    assert rendered.first_message.endswith("talk about ?")
    assert rendered.difficulty_instructions == DIFFICULTY_INSTRUCTIONS[1]

    await personas.UpdatePersona(pb.UpdatePersonaRequest(
        persona=pb.Persona(name=persona.name, difficulty=5, first_message_template="Make it quick."),
        update_mask=field_mask_pb2.FieldMask(paths=["difficulty", "first_message_template"])))
    rendered = await personas.RenderPrompt(pb.RenderPromptRequest(persona=persona.name))
    assert rendered.difficulty_instructions == DIFFICULTY_INSTRUCTIONS[5]
    assert DIFFICULTY_INSTRUCTIONS[5] in rendered.system_prompt
    assert rendered.first_message == "Make it quick."
    assert rendered.persona_revision == 2


# --- search ---------------------------------------------------------------------------------------


async def test_search_by_name_description_domain_and_belief(personas):
    name, description, domain, belief = uid(), uid(), uid(), uid()
    by_name = await create(personas, new_persona(display_name=f"Margo {name}"))
    by_description = await create(personas, new_persona(description=f"Runs procurement at {description} corp"))
    by_domain = await create(personas, new_persona(domains=[domain]))
    by_belief = await create(personas, new_persona(beliefs=[pb.Belief(text=f"Never trust {belief} vendors")]))

    assert await search_names(personas, name) == [by_name.name]
    assert await search_names(personas, description) == [by_description.name]
    assert await search_names(personas, domain) == [by_domain.name]
    assert await search_names(personas, belief) == [by_belief.name]
    # Words of a phrase need not be adjacent, and case does not matter.
    assert await search_names(personas, f"procurement {description.upper()}") == [by_description.name]


async def test_search_ranks_name_matches_first_and_filters_by_blueprint(personas):
    tag = uid()
    # Same lengths everywhere but where the word is: name (weight A) > description (B) > belief (C).
    in_belief = await create(personas, new_persona(display_name="Board Member", blueprint=pb.BLUEPRINT_HR,
                                                   beliefs=[pb.Belief(text=f"{tag} is overrated")]))
    in_name = await create(personas, new_persona(display_name=f"Dana {tag}", blueprint=pb.BLUEPRINT_SALES,
                                                 beliefs=[pb.Belief(text="Boards are overrated")]))
    in_description = await create(personas, new_persona(display_name="Board Member",
                                                        description=f"Evaluates {tag} for the board"))

    response = await personas.SearchPersonas(pb.SearchPersonasRequest(query=tag))
    assert [r.persona.name for r in response.results] == [in_name.name, in_description.name, in_belief.name]
    relevances = [r.relevance for r in response.results]
    assert relevances == sorted(relevances, reverse=True) and relevances[0] > relevances[-1] > 0

    assert await search_names(personas, tag, blueprint=pb.BLUEPRINT_HR) == [in_belief.name]
    assert len(await search_names(personas, tag, page_size=1)) == 1


async def test_search_finds_a_misspelt_name(personas):
    word = "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:8])
    persona = await create(personas, new_persona(display_name=f"Quentin {word}ovich"))
    misspelt = f"Quentn {word}ovitch"
    assert persona.name in await search_names(personas, misspelt)
    assert (await search_names(personas, misspelt))[0] == persona.name


# --- protected personas ---------------------------------------------------------------------------


async def test_protected_persona_needs_the_admin_role(personas, authors, connect, persona_server):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await create(authors, new_persona(protected=True, real_person=True))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # The author owns it, and still may not change it: a protected persona needs the admin role, whoever owns it.
    protected = await create(personas, new_persona(protected=True, real_person=True, owners=["author@acme"]))
    assert protected.protected and "author@acme" in protected.owners
    change = pb.UpdatePersonaRequest(persona=pb.Persona(name=protected.name, display_name="Changed"),
                                     update_mask=field_mask_pb2.FieldMask(paths=["display_name"]))

    for attempt in (
        authors.UpdatePersona(change),
        authors.DeletePersona(pb.DeletePersonaRequest(name=protected.name)),
        authors.RollbackPersona(pb.RollbackPersonaRequest(name=protected.name, version=f"{protected.name}/versions/1")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await attempt
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "protected" in raised.value.details()
        assert reason_and_fields(raised.value) == ("ADMIN_REQUIRED", [])
    got = (await personas.GetPersona(pb.GetPersonaRequest(name=protected.name))).persona
    assert got == protected

    updated = (await personas.UpdatePersona(change)).persona
    assert updated.display_name == "Changed"
    author_and_admin = PersonaServiceStub(connect(persona_server, token("author", "admin")))
    deleted = (await author_and_admin.DeletePersona(pb.DeletePersonaRequest(name=protected.name))).persona
    assert deleted.HasField("delete_time")
    restored = (await personas.UndeletePersona(pb.UndeletePersonaRequest(name=protected.name))).persona
    assert not restored.HasField("delete_time")


async def test_protecting_a_persona_needs_the_admin_role(personas, authors):
    created = await create(authors)
    protect = pb.UpdatePersonaRequest(persona=pb.Persona(name=created.name, protected=True),
                                      update_mask=field_mask_pb2.FieldMask(paths=["protected"]))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await authors.UpdatePersona(protect)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await personas.UpdatePersona(protect)).persona.protected


# --- idempotency ----------------------------------------------------------------------------------


async def test_create_retried_with_the_same_request_id_creates_once(personas):
    domain = f"dom{uid()}"
    request = pb.CreatePersonaRequest(persona=new_persona(domains=[domain]), request_id=str(uuid.uuid4()))
    first = await personas.CreatePersona(request)
    second = await personas.CreatePersona(request)
    assert second == first
    assert [p.name for p in await list_all(personas, domain=domain)] == [first.persona.name]


async def test_request_id_reused_for_another_payload_is_refused(personas):
    domain = f"dom{uid()}"
    request_id = str(uuid.uuid4())
    await personas.CreatePersona(pb.CreatePersonaRequest(persona=new_persona(domains=[domain]),
                                                         request_id=request_id))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await personas.CreatePersona(pb.CreatePersonaRequest(persona=new_persona(domains=[domain]),
                                                             request_id=request_id))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in raised.value.details()
    assert len(await list_all(personas, domain=domain)) == 1


async def test_update_and_delete_retries_are_answered_not_rerun(personas):
    created = await create(personas)
    update = pb.UpdatePersonaRequest(
        persona=pb.Persona(name=created.name, etag=created.etag, description="once"),
        update_mask=field_mask_pb2.FieldMask(paths=["description"]), request_id=str(uuid.uuid4()))
    first = await personas.UpdatePersona(update)
    # The etag is stale now, but a retry is answered from the first attempt instead of failing.
    assert await personas.UpdatePersona(update) == first
    delete = pb.DeletePersonaRequest(name=created.name, request_id=str(uuid.uuid4()))
    deleted = await personas.DeletePersona(delete)
    assert await personas.DeletePersona(delete) == deleted
    versions = (await personas.ListPersonaVersions(pb.ListPersonaVersionsRequest(parent=created.name))).versions
    assert [v.revision for v in versions] == [3, 2, 1]


async def test_scenario_and_archetype_retries_are_answered_not_rerun(personas):
    create_scenario = pb.CreateScenarioRequest(scenario=pb.Scenario(display_name="Retry", pain_points=["p"]),
                                               request_id=str(uuid.uuid4()))
    scenario = await personas.CreateScenario(create_scenario)
    assert await personas.CreateScenario(create_scenario) == scenario

    update_scenario = pb.UpdateScenarioRequest(
        scenario=pb.Scenario(name=scenario.scenario.name, etag=scenario.scenario.etag, industry="retail"),
        update_mask=field_mask_pb2.FieldMask(paths=["industry"]), request_id=str(uuid.uuid4()))
    updated = await personas.UpdateScenario(update_scenario)
    assert await personas.UpdateScenario(update_scenario) == updated

    delete_scenario = pb.DeleteScenarioRequest(name=scenario.scenario.name, request_id=str(uuid.uuid4()))
    await personas.DeleteScenario(delete_scenario)
    await personas.DeleteScenario(delete_scenario)  # answered from the first attempt, not NOT_FOUND

    create_archetype = pb.CreateArchetypeRequest(archetype=pb.Archetype(display_name="Fox"),
                                                 archetype_id=f"fox-{uid()}", request_id=str(uuid.uuid4()))
    archetype = await personas.CreateArchetype(create_archetype)
    assert await personas.CreateArchetype(create_archetype) == archetype
