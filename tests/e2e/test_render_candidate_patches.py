"""RenderPrompt renders candidate patches (the learning service validating a refinement) on top of the published ones,
and withholds published ones (the learning service validating a change that withdraws a learned module), for that
rendering only: reported, never kept for the next rendering, checked (a candidate as CreatePromptPatch checks a patch,
a withheld patch as one the rendering applies), and sent only by the learning service or an admin."""

from __future__ import annotations

import grpc
import pytest
import pytest_asyncio
import sqlalchemy as sa
from sparring.audit.v1 import audit_pb2
from sparring.persona.v1 import persona_service_pb2 as pb
from sparring.persona.v1 import persona_service_pb2_grpc

from persona_svc.config import PersonaSettings
from tests.e2e.conftest import persona_replica
from tests.e2e.status_details import rejected_in
from tests.security import ORGANIZATION, token

DOMAIN = "persona.sparring.dev"
PERSONA = "personas/candidate-bear"
GIVEAWAY = "gives its budget away in the first answer"
HOLD_BACK = "holds the budget back until the candidate has earned it"
# A service names the organization it acts for in each call.
ACTING_FOR = [("x-sparring-organization", ORGANIZATION)]


def trait_edit(**fields) -> pb.CandidatePatch:
    """The structured patch the closed loop validates: the trait that gives the budget away, replaced."""
    return pb.CandidatePatch(**{
        "name": "evolutionRuns/r/refinements/r1", "archetype": "archetypes/bear",
        "target": pb.PATCH_TARGET_VOICE_PROMPT, "operation": pb.PATCH_OPERATION_EDIT_PART,
        "part": pb.PROMPT_PART_PERSONALITY_TRAITS, "edit": pb.PART_EDIT_REPLACE, "find_text": GIVEAWAY,
        "text": HOLD_BACK, "scope": pb.CandidatePatchScope(min_difficulty=5, max_difficulty=5), **fields})


@pytest_asyncio.fixture(scope="module")
async def bear(personas, catalogue) -> str:
    try:
        await personas.CreatePersona(pb.CreatePersonaRequest(persona_id="candidate-bear", persona=pb.Persona(
            slug="candidate-bear", display_name="Brenda Holt", role="CFO", blueprint=pb.BLUEPRINT_SALES,
            archetype="archetypes/bear", difficulty=5, personality_traits=["demanding", GIVEAWAY],
            prompt_template="You are {persona.name}, {persona.role}. You are {persona.personality_traits}.")))
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    return PERSONA


@pytest_asyncio.fixture(scope="module")
async def learning_identity(persona_server, connect) -> persona_service_pb2_grpc.PersonaServiceStub:
    """The persona service as the learning service calls it."""
    return persona_service_pb2_grpc.PersonaServiceStub(
        connect(persona_server, token("service", subject="service:learning")))


async def test_a_candidate_patch_is_rendered_for_that_rendering_only_and_reported_as_applied(
        bear, learning_identity, personas):
    published = await learning_identity.RenderPrompt(pb.RenderPromptRequest(persona=bear), metadata=ACTING_FOR)
    assert GIVEAWAY in published.system_prompt

    rule = pb.CandidatePatch(name="evolutionRuns/r/refinements/r2", target=pb.PATCH_TARGET_SYSTEM_PROMPT,
                             operation=pb.PATCH_OPERATION_ADD_RULE, text="Make the candidate name the pain first.")
    candidate = await learning_identity.RenderPrompt(pb.RenderPromptRequest(
        persona=bear, candidate_patches=[trait_edit(), rule]), metadata=ACTING_FOR)
    assert GIVEAWAY not in candidate.system_prompt and HOLD_BACK in candidate.system_prompt
    assert "Make the candidate name the pain first." in candidate.system_prompt
    assert [(p.patch, p.candidate, p.text) for p in candidate.applied_patches if p.candidate] == [
        ("evolutionRuns/r/refinements/r1", True, HOLD_BACK),
        ("evolutionRuns/r/refinements/r2", True, "Make the candidate name the pain first.")]
    assert candidate.system_prompt == published.system_prompt.replace(GIVEAWAY, HOLD_BACK) + (
        "\n\nRefinements learned from earlier calls:\n- Make the candidate name the pain first.")

    again = await personas.RenderPrompt(pb.RenderPromptRequest(persona=bear))
    assert again.system_prompt == published.system_prompt  # nothing kept for the next rendering
    assert not any(p.candidate for p in again.applied_patches)


@pytest.mark.parametrize("candidate, field, reason", [
    (trait_edit(part=pb.PROMPT_PART_UNSPECIFIED), "candidate_patches[0].part", "INVALID_ARGUMENT"),
    (trait_edit(operation=pb.PATCH_OPERATION_UNSPECIFIED), "candidate_patches[0].operation", "INVALID_ARGUMENT"),
    (trait_edit(part=pb.PROMPT_PART_BANNED_PHRASES), "candidate_patches[0].edit", "INVALID_ARGUMENT"),
    (trait_edit(part=pb.PROMPT_PART_LENGTH_RANGE, find_text="", words_per_turn=audit_pb2.WordRange(min_words=12,
                                                                                                   max_words=5)),
     "candidate_patches[0].words_per_turn", "INVALID_ARGUMENT"),
    (trait_edit(scope=pb.CandidatePatchScope(min_difficulty=4, max_difficulty=6)),
     "candidate_patches[0].scope.max_difficulty", "INVALID_ARGUMENT"),
    (trait_edit(name=""), "candidate_patches[0].name", "INVALID_ARGUMENT"),
    (trait_edit(find_text="tells everyone its budget"), "candidate_patches[0].find_text", "TARGET_TEXT_ABSENT"),
    (trait_edit(scope=pb.CandidatePatchScope(min_difficulty=1, max_difficulty=4)), "candidate_patches[0].scope",
     "PERSONA_NOT_REACHED"),
    (trait_edit(scope=pb.CandidatePatchScope(persona="personas/sarah-chen")), "candidate_patches[0].scope",
     "PERSONA_NOT_REACHED"),
    (trait_edit(archetype="archetypes/owl"), "candidate_patches[0].archetype", "ARCHETYPE_MISMATCH"),
], ids=["part", "operation", "edit-of-part", "length-range", "scope-range", "name", "absent-target", "scope-difficulty",
        "scope-persona", "archetype"])
async def test_a_bad_candidate_patch_is_refused_naming_its_field(bear, learning_identity, candidate, field, reason):
    rejection = await rejected_in(DOMAIN, learning_identity.RenderPrompt(pb.RenderPromptRequest(
        persona=bear, candidate_patches=[candidate]), metadata=ACTING_FOR), grpc.StatusCode.INVALID_ARGUMENT)
    assert rejection.reason == reason
    assert field in rejection.fields, rejection.violations


@pytest.mark.parametrize("roles, subject", [(("author",), ""), (("service",), "service:analysis")],
                         ids=["author", "another-service"])
async def test_only_the_learning_service_and_admins_render_candidate_patches(
        bear, persona_server, connect, personas, roles, subject):
    stub = persona_service_pb2_grpc.PersonaServiceStub(connect(persona_server, token(*roles, subject=subject)))
    rejection = await rejected_in(DOMAIN, stub.RenderPrompt(pb.RenderPromptRequest(
        persona=bear, candidate_patches=[trait_edit()]), metadata=ACTING_FOR), grpc.StatusCode.PERMISSION_DENIED)
    assert rejection.reason == "CANDIDATE_PATCHES_NOT_ALLOWED"
    without = await stub.RenderPrompt(pb.RenderPromptRequest(persona=bear), metadata=ACTING_FOR)
    assert GIVEAWAY in without.system_prompt  # without them: as before
    by_admin = await personas.RenderPrompt(pb.RenderPromptRequest(persona=bear, candidate_patches=[trait_edit()]))
    assert HOLD_BACK in by_admin.system_prompt


# --- published patches withheld ------------------------------------------------------------------------------------

TOLD_BEAR = "personas/told-bear"
MODULE = "patches/module-told-bear-brevity"
TOLD = "Keep every answer short: one point, then stop."


@pytest_asyncio.fixture(scope="module")
async def told_bear(personas, catalogue) -> str:
    """A bear whose prompt tells its communication style, where its learned modules are told."""
    try:
        await personas.CreatePersona(pb.CreatePersonaRequest(persona_id="told-bear", persona=pb.Persona(
            slug="told-bear", display_name="Tess Lowry", role="CFO", blueprint=pb.BLUEPRINT_SALES,
            archetype="archetypes/bear", difficulty=4, communication_style="Curt.",
            prompt_template="You are {persona.name}, {persona.role}. {persona.communication_style}")))
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    return TOLD_BEAR


@pytest_asyncio.fixture(scope="module")
async def wired(database_url, engine, learning_server, told_bear, connect):
    """The persona service, wired to the learning service, as the learning service calls it; the told bear has one
    published learned module that calls for reinforcement (brevity, confidence 0.19)."""
    async with engine.begin() as connection:
        await connection.execute(sa.text(
            "INSERT INTO learning.modules (organization, persona, module, positive, negative, status, event_count)"
            " VALUES (:organization, :persona, 'brevity', 1.5, 6.5, 'MODULE_STATUS_ACTIVE', 8)"),
            {"organization": ORGANIZATION, "persona": told_bear})
    settings = PersonaSettings(database_url=database_url, grpc_port=0, metrics_port=0,
                               learning_address=learning_server, patches_timeout_seconds=5)
    try:
        async with persona_replica(settings, engine) as address:
            yield address, persona_service_pb2_grpc.PersonaServiceStub(
                connect(address, token("service", subject="service:learning")))
    finally:
        async with engine.begin() as connection:
            await connection.execute(sa.text("DELETE FROM learning.modules WHERE persona = :persona"),
                                     {"persona": told_bear})


def module_edit(text: str) -> pb.CandidatePatch:
    """The bear's module as the learning service renders a new confidence of it: the same name, a new text."""
    return pb.CandidatePatch(name=MODULE, archetype="archetypes/bear", target=pb.PATCH_TARGET_VOICE_PROMPT,
                             operation=pb.PATCH_OPERATION_EDIT_PART, part=pb.PROMPT_PART_COMMUNICATION_STYLE,
                             edit=pb.PART_EDIT_ADD, text=text, scope=pb.CandidatePatchScope(persona=TOLD_BEAR))


async def test_a_withheld_patch_is_left_out_of_that_rendering_only_and_reported(told_bear, wired):
    _, learning = wired
    published = await learning.RenderPrompt(pb.RenderPromptRequest(persona=told_bear), metadata=ACTING_FOR)
    assert TOLD in published.system_prompt and MODULE in [p.patch for p in published.applied_patches]

    withheld = await learning.RenderPrompt(pb.RenderPromptRequest(persona=told_bear, withheld_patches=[MODULE]),
                                           metadata=ACTING_FOR)
    assert TOLD not in withheld.system_prompt and MODULE not in [p.patch for p in withheld.applied_patches]
    assert list(withheld.withheld_patches) == [MODULE] and "Curt." in withheld.system_prompt

    # Withheld and sent again as a candidate of the same name: the module as the learning service would publish it.
    edited = await learning.RenderPrompt(pb.RenderPromptRequest(
        persona=told_bear, withheld_patches=[MODULE], candidate_patches=[module_edit(f"{TOLD} (confidence 0.30)")]),
        metadata=ACTING_FOR)
    assert edited.system_prompt.count(TOLD) == 1 and "(confidence 0.30)" in edited.system_prompt
    assert [(p.patch, p.candidate) for p in edited.applied_patches if p.patch == MODULE] == [(MODULE, True)]

    again = await learning.RenderPrompt(pb.RenderPromptRequest(persona=told_bear), metadata=ACTING_FOR)
    assert again.system_prompt == published.system_prompt and not again.withheld_patches  # nothing kept


@pytest.mark.parametrize("withheld, field, reason", [
    (["patches/no-such-patch"], "withheld_patches[0]", "PATCH_NOT_APPLIED"),
    ([MODULE, "patches/module-sarah-chen-brevity"], "withheld_patches[1]", "PATCH_NOT_APPLIED"),
    (["module-candidate-bear-brevity"], "withheld_patches[0]", "INVALID_ARGUMENT"),
    (["patches/"], "withheld_patches[0]", "INVALID_ARGUMENT"),
    ([MODULE, MODULE], "withheld_patches[1]", "INVALID_ARGUMENT"),
    ([f"patches/p{index}" for index in range(61)], "withheld_patches", "INVALID_ARGUMENT"),
], ids=["unknown", "another-personas-module", "not-a-patch-name", "empty-id", "twice", "too-many"])
async def test_a_bad_withheld_patch_is_refused_naming_its_field(told_bear, wired, withheld, field, reason):
    _, learning = wired
    rejection = await rejected_in(DOMAIN, learning.RenderPrompt(pb.RenderPromptRequest(
        persona=told_bear, withheld_patches=withheld), metadata=ACTING_FOR), grpc.StatusCode.INVALID_ARGUMENT)
    assert rejection.reason == reason
    assert rejection.fields == [field], rejection.violations


@pytest.mark.parametrize("roles, subject", [(("author",), ""), (("service",), "service:analysis")],
                         ids=["author", "another-service"])
async def test_only_the_learning_service_and_admins_withhold_published_patches(told_bear, wired, connect, roles,
                                                                               subject):
    address, _ = wired
    stub = persona_service_pb2_grpc.PersonaServiceStub(connect(address, token(*roles, subject=subject)))
    rejection = await rejected_in(DOMAIN, stub.RenderPrompt(pb.RenderPromptRequest(
        persona=told_bear, withheld_patches=[MODULE]), metadata=ACTING_FOR), grpc.StatusCode.PERMISSION_DENIED)
    assert rejection.reason == "WITHHELD_PATCHES_NOT_ALLOWED"
    admin = persona_service_pb2_grpc.PersonaServiceStub(connect(address, token("admin")))
    by_admin = await admin.RenderPrompt(pb.RenderPromptRequest(persona=told_bear, withheld_patches=[MODULE]))
    assert TOLD not in by_admin.system_prompt
