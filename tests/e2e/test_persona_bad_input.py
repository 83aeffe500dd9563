"""Every bad input gets its exact status, a google.rpc ErrorInfo (and BadRequest naming the field for
INVALID_ARGUMENT), never UNKNOWN or INTERNAL, and changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

import grpc
import pytest
from sparring.persona.v1 import persona_service_pb2 as pb

from tests.builders import field_mask as mask
from tests.builders import new_persona, uid
from tests.e2e.status_details import Rejection, rejected_in

DOMAIN = "persona.sparring.dev"
INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def rejected(call: Awaitable, code: grpc.StatusCode) -> Rejection:
    """Awaits a call that must fail with ``code`` and a rich status; returns what the status says."""
    return await rejected_in(DOMAIN, call, code)


def valid_persona(**overrides) -> pb.Persona:
    """A valid persona alone in a domain of its own, so a test can count what was stored."""
    return new_persona(**{"domains": [f"dom-{uid()}"], **overrides})


async def create(personas, persona: pb.Persona | None = None) -> pb.Persona:
    return (await personas.CreatePersona(pb.CreatePersonaRequest(persona=persona or valid_persona()))).persona


async def count_in_domain(personas, domain: str) -> int:
    response = await personas.ListPersonas(pb.ListPersonasRequest(domain=domain, show_deleted=True, page_size=200))
    return len(response.personas)


async def assert_unchanged(personas, before: pb.Persona) -> None:
    after = (await personas.GetPersona(pb.GetPersonaRequest(name=before.name))).persona
    assert after == before
    versions = await personas.ListPersonaVersions(pb.ListPersonaVersionsRequest(parent=before.name))
    assert [v.revision for v in versions.versions] == list(range(before.revision, 0, -1))


# --- creating a bad persona -----------------------------------------------------------------------

BAD_PERSONAS = {
    "difficulty 0": ({"difficulty": 0}, "persona.difficulty"),
    "difficulty 6": ({"difficulty": 6}, "persona.difficulty"),
    "unknown blueprint": ({"blueprint": 99}, "persona.blueprint"),
    "missing blueprint": ({"blueprint": pb.BLUEPRINT_UNSPECIFIED}, "persona.blueprint"),
    "empty name": ({"display_name": ""}, "persona.display_name"),
    "blank name": ({"display_name": "   "}, "persona.display_name"),
    "trait 1.5": ({"traits": [pb.Trait(name="openness", value=1.5)]}, "persona.traits[0].value"),
    "negative trait": ({"traits": [pb.Trait(name="openness", value=-0.5)]}, "persona.traits[0].value"),
    "unknown placeholder": ({"prompt_template": "You are {persona.name}, budget {persona.budget}."},
                            "persona.prompt_template"),
    "unknown placeholder in first message": ({"first_message_template": "Hi {candidate.name}"},
                                             "persona.first_message_template"),
    "lone brace": ({"prompt_template": "Reply in JSON: {\"a\": 1}"}, "persona.prompt_template"),
    "bad slug": ({"slug": "Not A Slug"}, "persona.slug"),
    "default mode not enabled": ({"modes": [pb.Mode(mode="Critic", enabled=False)]}, "persona.config.default_mode"),
    "unknown humour enum": ({"config": pb.PersonaConfig(humor_usage=42)}, "persona.config.humor_usage"),
    "malformed archetype name": ({"archetype": "owl"}, "persona.archetype"),
    "unknown archetype": ({"archetype": "archetypes/no-such-archetype"}, "persona.archetype"),
    "NUL in name": ({"display_name": "Bad\x00Name"}, "persona.display_name"),
    "NUL in a trait type": ({"traits": [pb.Trait(name="openness", value=0.5, trait_type="O\x00")]},
                            "persona.traits[0].trait_type"),
    "avatar not a URL": ({"avatar_uri": "file:///etc/passwd"}, "persona.avatar_uri"),
}


@pytest.mark.parametrize(("overrides", "field"), BAD_PERSONAS.values(), ids=BAD_PERSONAS.keys())
async def test_bad_persona_is_refused_and_nothing_is_created(personas, overrides, field):
    good = valid_persona()
    bad = valid_persona(**{"slug": good.slug, "domains": good.domains, **overrides})
    rejection = await rejected(personas.CreatePersona(pb.CreatePersonaRequest(persona=bad)), INVALID)
    assert field in rejection.fields, rejection.violations
    assert await count_in_domain(personas, good.domains[0]) == 0
    # The slug is still free: nothing was half-written.
    await create(personas, good)
    assert await count_in_domain(personas, good.domains[0]) == 1


async def test_unknown_placeholder_names_the_field_and_the_placeholder(personas):
    bad = valid_persona(prompt_template="Hello {persona.name}, about {persona.salary} and {foo}.")
    rejection = await rejected(personas.CreatePersona(pb.CreatePersonaRequest(persona=bad)), INVALID)
    assert rejection.fields == ["persona.prompt_template", "persona.prompt_template"]
    assert "{persona.salary}" in rejection.violations[0][1]
    assert "{foo}" in rejection.violations[1][1]
    assert "{persona.salary}" in rejection.error.details()


async def test_every_bad_field_of_a_request_is_named_at_once(personas):
    bad = valid_persona(difficulty=0, display_name="", traits=[pb.Trait(name="openness", value=1.5)])
    rejection = await rejected(personas.CreatePersona(pb.CreatePersonaRequest(persona=bad)), INVALID)
    assert set(rejection.fields) == {"persona.difficulty", "persona.display_name", "persona.traits[0].value"}
    assert rejection.info.reason == "INVALID_ARGUMENT"
    assert await count_in_domain(personas, bad.domains[0]) == 0


async def test_bad_persona_id_is_refused(personas):
    persona = valid_persona()
    rejection = await rejected(
        personas.CreatePersona(pb.CreatePersonaRequest(persona=persona, persona_id="Bad_ID")), INVALID)
    assert rejection.fields == ["persona_id"]
    assert await count_in_domain(personas, persona.domains[0]) == 0


async def test_protected_persona_without_admin_is_refused(personas, authors):
    persona = valid_persona(protected=True)
    rejection = await rejected(authors.CreatePersona(pb.CreatePersonaRequest(persona=persona)),
                               grpc.StatusCode.PERMISSION_DENIED)
    assert rejection.info.reason == "ADMIN_REQUIRED"
    assert await count_in_domain(personas, persona.domains[0]) == 0


# --- duplicates -----------------------------------------------------------------------------------


async def test_duplicate_slug_is_already_exists(personas):
    first = await create(personas)
    copy = valid_persona(slug=first.slug, domains=[f"dom-{uid()}"])
    rejection = await rejected(personas.CreatePersona(pb.CreatePersonaRequest(persona=copy)),
                               grpc.StatusCode.ALREADY_EXISTS)
    assert rejection.info.reason == "SLUG_TAKEN"
    assert rejection.info.metadata["slug"] == first.slug
    assert rejection.info.metadata["resource"] == first.name
    assert await count_in_domain(personas, copy.domains[0]) == 0
    await assert_unchanged(personas, first)


async def test_duplicate_slug_on_update_is_already_exists(personas):
    first, second = await create(personas), await create(personas)
    rejection = await rejected(personas.UpdatePersona(pb.UpdatePersonaRequest(
        persona=pb.Persona(name=second.name, slug=first.slug), update_mask=mask("slug"))),
        grpc.StatusCode.ALREADY_EXISTS)
    assert rejection.info.reason == "SLUG_TAKEN"
    await assert_unchanged(personas, first)
    await assert_unchanged(personas, second)


async def test_duplicate_persona_id_is_already_exists(personas):
    persona_id = f"dup-{uid()}"
    first = (await personas.CreatePersona(pb.CreatePersonaRequest(persona=valid_persona(),
                                                                  persona_id=persona_id))).persona
    copy = valid_persona()
    rejection = await rejected(personas.CreatePersona(pb.CreatePersonaRequest(persona=copy, persona_id=persona_id)),
                               grpc.StatusCode.ALREADY_EXISTS)
    assert rejection.info.reason == "PERSONA_EXISTS"
    assert await count_in_domain(personas, copy.domains[0]) == 0
    await assert_unchanged(personas, first)


async def test_duplicate_archetype_is_already_exists(personas):
    archetype_id = f"arch-{uid()}"
    await personas.CreateArchetype(pb.CreateArchetypeRequest(archetype=pb.Archetype(display_name="A"),
                                                             archetype_id=archetype_id))
    rejection = await rejected(personas.CreateArchetype(pb.CreateArchetypeRequest(
        archetype=pb.Archetype(display_name="B"), archetype_id=archetype_id)), grpc.StatusCode.ALREADY_EXISTS)
    assert rejection.info.reason == "ARCHETYPE_EXISTS"
    got = await personas.GetArchetype(pb.GetArchetypeRequest(name=f"archetypes/{archetype_id}"))
    assert got.archetype.display_name == "A"


# --- updates --------------------------------------------------------------------------------------

BAD_UPDATES = {
    "difficulty 0": (pb.Persona(difficulty=0), ["difficulty"], "persona.difficulty"),
    "difficulty 6": (pb.Persona(difficulty=6), ["difficulty"], "persona.difficulty"),
    "unknown blueprint": (pb.Persona(blueprint=99), ["blueprint"], "persona.blueprint"),
    "empty name": (pb.Persona(display_name=""), ["display_name"], "persona.display_name"),
    "trait 1.5": (pb.Persona(traits=[pb.Trait(name="x", value=1.5)]), ["traits"], "persona.traits[0].value"),
    "unknown placeholder": (pb.Persona(prompt_template="{persona.nope}"), ["prompt_template"],
                            "persona.prompt_template"),
    "mask names a nonexistent field": (pb.Persona(display_name="New"), ["display_name", "favourite_colour"],
                                       "update_mask.paths[1]"),
    "mask names an output-only field": (pb.Persona(etag='"9"'), ["etag"], "update_mask.paths[0]"),
    "mask names a nested field": (pb.Persona(), ["config.default_mode"], "update_mask.paths[0]"),
    "empty mask": (pb.Persona(display_name="New"), [], "update_mask"),
    "disabling the default mode": (pb.Persona(modes=[pb.Mode(mode="Critic", enabled=False)]), ["modes"],
                                   "persona.config.default_mode"),
}


@pytest.mark.parametrize(("change", "paths", "field"), BAD_UPDATES.values(), ids=BAD_UPDATES.keys())
async def test_bad_update_is_refused_and_changes_nothing(personas, change, paths, field):
    persona = await create(personas)
    change.name = persona.name
    rejection = await rejected(personas.UpdatePersona(pb.UpdatePersonaRequest(persona=change,
                                                                              update_mask=mask(*paths))), INVALID)
    assert field in rejection.fields, rejection.violations
    await assert_unchanged(personas, persona)


async def test_mask_naming_a_nonexistent_field_says_so(personas):
    persona = await create(personas)
    rejection = await rejected(personas.UpdatePersona(pb.UpdatePersonaRequest(
        persona=pb.Persona(name=persona.name), update_mask=mask("shoe_size"))), INVALID)
    assert rejection.violations == [("update_mask.paths[0]", "'shoe_size' is not a field of this resource")]
    await assert_unchanged(personas, persona)


# --- etags ----------------------------------------------------------------------------------------


async def test_stale_etag_is_aborted_and_changes_nothing(personas):
    persona = await create(personas)
    current = (await personas.UpdatePersona(pb.UpdatePersonaRequest(
        persona=pb.Persona(name=persona.name, etag=persona.etag, description="v2"),
        update_mask=mask("description")))).persona
    stale = persona.etag
    attempts = [
        personas.UpdatePersona(pb.UpdatePersonaRequest(
            persona=pb.Persona(name=persona.name, etag=stale, description="v3"), update_mask=mask("description"))),
        personas.DeletePersona(pb.DeletePersonaRequest(name=persona.name, etag=stale)),
        personas.RollbackPersona(pb.RollbackPersonaRequest(name=persona.name, version=f"{persona.name}/versions/1",
                                                           etag=stale)),
        personas.UpdatePersona(pb.UpdatePersonaRequest(
            persona=pb.Persona(name=persona.name, etag="not-an-etag", description="v3"),
            update_mask=mask("description"))),
    ]
    for attempt in attempts:
        rejection = await rejected(attempt, grpc.StatusCode.ABORTED)
        assert rejection.info.reason == "ETAG_MISMATCH"
        assert rejection.info.metadata["current_etag"] == current.etag
        assert rejection.info.metadata["resource"] == persona.name
    await assert_unchanged(personas, current)


async def test_stale_etag_on_undelete_and_scenarios_is_aborted(personas):
    persona = await create(personas)
    deleted = (await personas.DeletePersona(pb.DeletePersonaRequest(name=persona.name))).persona
    await rejected(personas.UndeletePersona(pb.UndeletePersonaRequest(name=persona.name, etag=persona.etag)),
                   grpc.StatusCode.ABORTED)
    await assert_unchanged(personas, deleted)

    scenario = (await personas.CreateScenario(pb.CreateScenarioRequest(
        scenario=pb.Scenario(display_name="S", industry="retail")))).scenario
    await personas.UpdateScenario(pb.UpdateScenarioRequest(
        scenario=pb.Scenario(name=scenario.name, display_name="S2"), update_mask=mask("display_name")))
    await rejected(personas.DeleteScenario(pb.DeleteScenarioRequest(name=scenario.name, etag=scenario.etag)),
                   grpc.StatusCode.ABORTED)
    got = (await personas.GetScenario(pb.GetScenarioRequest(name=scenario.name))).scenario
    assert got.display_name == "S2"


# --- missing resources ----------------------------------------------------------------------------


async def test_missing_persona_is_not_found(personas):
    name = f"personas/missing-{uid()}"
    calls = [
        personas.GetPersona(pb.GetPersonaRequest(name=name)),
        personas.UpdatePersona(pb.UpdatePersonaRequest(persona=pb.Persona(name=name, display_name="x"),
                                                       update_mask=mask("display_name"))),
        personas.DeletePersona(pb.DeletePersonaRequest(name=name)),
        personas.UndeletePersona(pb.UndeletePersonaRequest(name=name)),
        personas.RollbackPersona(pb.RollbackPersonaRequest(name=name, version=f"{name}/versions/1")),
        personas.ListPersonaVersions(pb.ListPersonaVersionsRequest(parent=name)),
        personas.GetPersonaVersion(pb.GetPersonaVersionRequest(name=f"{name}/versions/1")),
        personas.RenderPrompt(pb.RenderPromptRequest(persona=name)),
    ]
    for call in calls:
        rejection = await rejected(call, grpc.StatusCode.NOT_FOUND)
        assert rejection.info.reason == "RESOURCE_NOT_FOUND"
        assert rejection.info.metadata["resource"] == name
        assert name in rejection.error.details()
    await rejected(personas.GetPersona(pb.GetPersonaRequest(name=name)), grpc.StatusCode.NOT_FOUND)


async def test_missing_version_scenario_and_archetype_are_not_found(personas):
    persona = await create(personas)
    rejection = await rejected(personas.GetPersonaVersion(pb.GetPersonaVersionRequest(
        name=f"{persona.name}/versions/7")), grpc.StatusCode.NOT_FOUND)
    assert rejection.info.reason == "VERSION_NOT_FOUND"
    rejection = await rejected(personas.RollbackPersona(pb.RollbackPersonaRequest(
        name=persona.name, version=f"{persona.name}/versions/7")), grpc.StatusCode.NOT_FOUND)
    assert rejection.info.reason == "VERSION_NOT_FOUND"
    await assert_unchanged(personas, persona)

    missing_scenario = f"scenarios/missing-{uid()}"
    await rejected(personas.RenderPrompt(pb.RenderPromptRequest(persona=persona.name, scenario=missing_scenario)),
                   grpc.StatusCode.NOT_FOUND)
    await rejected(personas.GetScenario(pb.GetScenarioRequest(name=missing_scenario)), grpc.StatusCode.NOT_FOUND)
    await rejected(personas.UpdateScenario(pb.UpdateScenarioRequest(
        scenario=pb.Scenario(name=missing_scenario, display_name="x"), update_mask=mask("display_name"))),
        grpc.StatusCode.NOT_FOUND)
    await rejected(personas.DeleteScenario(pb.DeleteScenarioRequest(name=missing_scenario)),
                   grpc.StatusCode.NOT_FOUND)
    await rejected(personas.GetArchetype(pb.GetArchetypeRequest(name=f"archetypes/missing-{uid()}")),
                   grpc.StatusCode.NOT_FOUND)


# --- malformed resource names ---------------------------------------------------------------------

MALFORMED_PERSONA_NAMES = [
    "", "personas/", "persona/abc", "scenarios/abc", "personas/abc/def", "/personas/abc", "personas//abc",
    "personas/ABC", "personas/a b", "personas/a\x00b", "personas/" + "a" * 300, "personas/ünï",
]


@pytest.mark.parametrize("name", MALFORMED_PERSONA_NAMES)
async def test_malformed_persona_names_are_invalid_argument(personas, name):
    calls = [
        (personas.GetPersona(pb.GetPersonaRequest(name=name)), "name"),
        (personas.DeletePersona(pb.DeletePersonaRequest(name=name)), "name"),
        (personas.UndeletePersona(pb.UndeletePersonaRequest(name=name)), "name"),
        (personas.UpdatePersona(pb.UpdatePersonaRequest(persona=pb.Persona(name=name, display_name="x"),
                                                        update_mask=mask("display_name"))), "persona.name"),
        (personas.ListPersonaVersions(pb.ListPersonaVersionsRequest(parent=name)), "parent"),
        (personas.RenderPrompt(pb.RenderPromptRequest(persona=name)), "persona"),
    ]
    for call, field in calls:
        rejection = await rejected(call, INVALID)
        assert rejection.fields == [field]


MALFORMED_VERSION_NAMES = [
    "", "personas/abc", "personas/abc/versions/", "personas/abc/versions/x", "personas/abc/versions/-1",
    "personas/abc/versions/1.5", "personas/abc/revisions/1", "personas//versions/1", "personas/ABC/versions/1",
    "personas/abc/versions/²", "personas/abc/versions/99999999999999999999999", "personas/abc/versions/1/x",
    "personas/a\x00/versions/1",
]


@pytest.mark.parametrize("name", MALFORMED_VERSION_NAMES)
async def test_malformed_version_names_are_invalid_argument(personas, name):
    rejection = await rejected(personas.GetPersonaVersion(pb.GetPersonaVersionRequest(name=name)), INVALID)
    assert rejection.fields == ["name"]
    rejection = await rejected(personas.RollbackPersona(pb.RollbackPersonaRequest(name="personas/abc", version=name)),
                               INVALID)
    assert rejection.fields == ["version"]


async def test_rollback_to_a_version_of_another_persona_is_refused(personas):
    first, second = await create(personas), await create(personas)
    rejection = await rejected(personas.RollbackPersona(pb.RollbackPersonaRequest(
        name=second.name, version=f"{first.name}/versions/1")), INVALID)
    assert rejection.fields == ["version"]
    await assert_unchanged(personas, second)


async def test_other_malformed_names_are_invalid_argument(personas):
    persona = await create(personas)
    cases = [
        (personas.RenderPrompt(pb.RenderPromptRequest(persona=persona.name, scenario="scenario/x")), "scenario"),
        (personas.GetScenario(pb.GetScenarioRequest(name="personas/x")), "name"),
        (personas.UpdateScenario(pb.UpdateScenarioRequest(scenario=pb.Scenario(name="x", display_name="y"),
                                                          update_mask=mask("display_name"))), "scenario.name"),
        (personas.DeleteScenario(pb.DeleteScenarioRequest(name="scenarios/")), "name"),
        (personas.GetArchetype(pb.GetArchetypeRequest(name="archetypes/Owl!")), "name"),
        (personas.ListPersonas(pb.ListPersonasRequest(archetype="owl")), "archetype"),
        (personas.CreateArchetype(pb.CreateArchetypeRequest(archetype=pb.Archetype(display_name="A"),
                                                            archetype_id="Not Valid")), "archetype_id"),
    ]
    for call, field in cases:
        rejection = await rejected(call, INVALID)
        assert rejection.fields == [field]
    await assert_unchanged(personas, persona)


# --- lists, pages and search ----------------------------------------------------------------------


async def test_negative_page_size_is_refused_everywhere(personas):
    persona = await create(personas)
    calls = [
        personas.ListPersonas(pb.ListPersonasRequest(page_size=-1)),
        personas.ListPersonaVersions(pb.ListPersonaVersionsRequest(parent=persona.name, page_size=-5)),
        personas.ListScenarios(pb.ListScenariosRequest(page_size=-1)),
        personas.ListArchetypes(pb.ListArchetypesRequest(page_size=-1)),
        personas.SearchPersonas(pb.SearchPersonasRequest(query="anything", page_size=-1)),
    ]
    for call in calls:
        rejection = await rejected(call, INVALID)
        assert rejection.fields == ["page_size"]
        assert "negative" in rejection.violations[0][1]


@pytest.mark.parametrize("token", ["forged", "eyJjIjpbIjIwMjUiLCJ4Il0sImYiOiIwIn0", "A" * 64, "%%%", "ünï",
                                   "\x00"])
async def test_forged_page_token_is_refused(personas, token):
    for call in (
        personas.ListPersonas(pb.ListPersonasRequest(page_token=token)),
        personas.ListScenarios(pb.ListScenariosRequest(page_token=token)),
        personas.ListArchetypes(pb.ListArchetypesRequest(page_token=token)),
    ):
        rejection = await rejected(call, INVALID)
        assert rejection.fields == ["page_token"]


async def test_page_token_tampered_or_reused_with_other_filters_is_refused(personas):
    domain = f"dom-{uid()}"
    for _ in range(3):
        await create(personas, valid_persona(domains=[domain]))
    first = await personas.ListPersonas(pb.ListPersonasRequest(domain=domain, page_size=1))
    token = first.next_page_token
    assert token
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    rejection = await rejected(personas.ListPersonas(pb.ListPersonasRequest(domain=domain, page_token=tampered)),
                               INVALID)
    assert rejection.fields == ["page_token"]
    for other in (
        pb.ListPersonasRequest(domain=f"dom-{uid()}", page_token=token),
        pb.ListPersonasRequest(domain=domain, page_token=token, show_deleted=True),
        pb.ListPersonasRequest(domain=domain, page_token=token, blueprint=pb.BLUEPRINT_SALES),
        pb.ListPersonasRequest(page_token=token),
    ):
        rejection = await rejected(personas.ListPersonas(other), INVALID)
        assert rejection.fields == ["page_token"]
        assert "other filters" in rejection.violations[0][1]
    # A token of one list is not a token of another.
    await rejected(personas.ListScenarios(pb.ListScenariosRequest(page_token=token)), INVALID)
    await rejected(personas.ListPersonaVersions(pb.ListPersonaVersionsRequest(
        parent=first.personas[0].name, page_token=token)), INVALID)
    # The same filters still page on.
    second = await personas.ListPersonas(pb.ListPersonasRequest(domain=domain, page_size=1, page_token=token))
    assert second.personas[0].name != first.personas[0].name


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ListPersonasRequest(min_difficulty=6), "min_difficulty"),
        (pb.ListPersonasRequest(max_difficulty=-1), "max_difficulty"),
        (pb.ListPersonasRequest(min_difficulty=4, max_difficulty=2), "min_difficulty"),
        (pb.ListPersonasRequest(blueprint=99), "blueprint"),
        (pb.ListPersonasRequest(domain="fin\x00tech"), "domain"),
    ],
)
async def test_bad_list_filters_are_refused(personas, request_, field):
    rejection = await rejected(personas.ListPersonas(request_), INVALID)
    assert rejection.fields == [field]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.SearchPersonasRequest(query=""), "query"),
        (pb.SearchPersonasRequest(query="   "), "query"),
        (pb.SearchPersonasRequest(query="q" * 201), "query"),
        (pb.SearchPersonasRequest(query="a\x00b"), "query"),
        (pb.SearchPersonasRequest(query="finance", blueprint=99), "blueprint"),
    ],
)
async def test_bad_searches_are_refused(personas, request_, field):
    rejection = await rejected(personas.SearchPersonas(request_), INVALID)
    assert rejection.fields == [field]


@pytest.mark.parametrize("query", ["the", "!!!", '"', "a:*", "((", "\\", "%", "_", "' OR 1=1 --", "a & b | !c", "<->"])
async def test_odd_search_queries_are_answered_not_failed(personas, query):
    response = await personas.SearchPersonas(pb.SearchPersonasRequest(query=query))
    assert all(result.relevance > 0 for result in response.results)


async def test_bad_scenario_filter_and_fields_are_refused(personas):
    rejection = await rejected(personas.ListScenarios(pb.ListScenariosRequest(industry="a\x00")), INVALID)
    assert rejection.fields == ["industry"]
    rejection = await rejected(personas.CreateScenario(pb.CreateScenarioRequest(
        scenario=pb.Scenario(display_name="", industry="x\x00"))), INVALID)
    assert set(rejection.fields) == {"scenario.display_name", "scenario.industry"}


# --- request ids ----------------------------------------------------------------------------------


async def test_request_id_reused_with_another_payload_is_refused(personas):
    request_id = str(uuid.uuid4())
    first = valid_persona()
    await personas.CreatePersona(pb.CreatePersonaRequest(persona=first, request_id=request_id))
    other = valid_persona()
    rejection = await rejected(personas.CreatePersona(pb.CreatePersonaRequest(persona=other, request_id=request_id)),
                               INVALID)
    assert rejection.fields == ["request_id"]
    assert await count_in_domain(personas, other.domains[0]) == 0
    assert await count_in_domain(personas, first.domains[0]) == 1


async def test_request_id_reused_for_another_method_is_refused(personas):
    request_id = str(uuid.uuid4())
    persona = (await personas.CreatePersona(pb.CreatePersonaRequest(persona=valid_persona(),
                                                                    request_id=request_id))).persona
    rejection = await rejected(personas.DeletePersona(pb.DeletePersonaRequest(name=persona.name,
                                                                              request_id=request_id)), INVALID)
    assert rejection.fields == ["request_id"]
    await assert_unchanged(personas, persona)


@pytest.mark.parametrize("request_id", ["r" * 201, "bad\x00id"])
async def test_bad_request_id_is_refused(personas, request_id):
    persona = valid_persona()
    rejection = await rejected(personas.CreatePersona(pb.CreatePersonaRequest(persona=persona,
                                                                              request_id=request_id)), INVALID)
    assert rejection.fields == ["request_id"]
    assert await count_in_domain(personas, persona.domains[0]) == 0
