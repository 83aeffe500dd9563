"""RenderPrompt takes the active patches of the caller's organization from the learning service, says which it
applied, and when the learning service cannot answer applies the last set it gave (with its age, counted), or
renders without patches (counted) when none was ever known."""

from __future__ import annotations

import grpc
import pytest_asyncio
import sqlalchemy as sa
from sparring.learning.v1 import learning_service_pb2 as lpb
from sparring.learning.v1 import learning_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as pb
from sparring.persona.v1 import persona_service_pb2_grpc

from learning_svc.app import build as build_learning
from learning_svc.config import LearningSettings
from persona_svc.adapters.learning_patches import LearningServicePatches
from persona_svc.app import build as build_persona
from persona_svc.config import PersonaSettings
from tests.e2e.status_details import rejected_in
from tests.probes import free_port, metric
from tests.security import CREDENTIALS, ORGANIZATION, secure_channel, service_link


async def _persona_service(database_url, engine, learning_address: str):
    app = await build_persona(PersonaSettings(database_url=database_url, grpc_port=0, metrics_port=0,
                                              learning_address=learning_address, patches_timeout_seconds=5), engine)
    await app.start()
    return app


@pytest_asyncio.fixture(scope="module")
async def patched_personas(database_url, engine, learning_server, catalogue):
    app = await _persona_service(database_url, engine, learning_server)
    async with secure_channel(app.address) as channel:
        yield persona_service_pb2_grpc.PersonaServiceStub(channel)
    await app.stop(grace=1)


async def test_active_patches_are_applied_and_reported(patched_personas, learnings):
    patch = (await learnings.CreatePromptPatch(lpb.CreatePromptPatchRequest(patch=lpb.PromptPatch(
        archetype="archetypes/lamb", target=lpb.PATCH_TARGET_VOICE_PROMPT, operation=lpb.PATCH_OPERATION_BAN_PHRASE,
        phrase="no worries", text="Never say 'no worries': it gives away that nothing bothers you.")))).patch
    before = await patched_personas.RenderPrompt(pb.RenderPromptRequest(persona="personas/priya-raman"))
    assert patch.name not in [p.patch for p in before.applied_patches]  # proposed, not active

    await learnings.ApprovePromptPatch(lpb.ApprovePromptPatchRequest(name=patch.name))
    rendered = await patched_personas.RenderPrompt(pb.RenderPromptRequest(persona="personas/priya-raman"))
    assert rendered.patch_source == pb.PATCH_SOURCE_LIVE
    assert patch.name in [p.patch for p in rendered.applied_patches]
    assert "Never say 'no worries'" in rendered.system_prompt
    owl = await patched_personas.RenderPrompt(pb.RenderPromptRequest(persona="personas/sarah-chen"))
    assert patch.name not in [p.patch for p in owl.applied_patches]  # another archetype

    await learnings.DeactivatePromptPatch(lpb.DeactivatePromptPatchRequest(name=patch.name))
    after = await patched_personas.RenderPrompt(pb.RenderPromptRequest(persona="personas/priya-raman"))
    assert patch.name not in [p.patch for p in after.applied_patches]
    assert "Never say 'no worries'" not in after.system_prompt


async def test_rendering_goes_on_without_patches_when_the_learning_service_is_down_and_none_were_known(
        database_url, engine, catalogue):
    nowhere = f"127.0.0.1:{free_port()}"  # a port nothing listens on
    async with engine.begin() as connection:  # no replica ever had an answer from the learning service
        await connection.execute(sa.text("DELETE FROM persona.last_known_patches"))
    app = await _persona_service(database_url, engine, nowhere)

    def fallbacks() -> tuple[float, float]:
        return (metric("sparring_persona_patch_fallbacks_total", reason="unavailable"),
                metric("sparring_persona_patch_fallback_sets_total", applied="none_known"))

    counted = fallbacks()
    try:
        async with secure_channel(app.address) as channel:
            stub = persona_service_pb2_grpc.PersonaServiceStub(channel)
            rendered = await stub.RenderPrompt(pb.RenderPromptRequest(persona="personas/priya-raman"))
    finally:
        await app.stop(grace=1)
    assert rendered.patch_source == pb.PATCH_SOURCE_UNAVAILABLE and not rendered.applied_patches
    assert not rendered.HasField("patches_age")
    assert "Priya" in rendered.system_prompt
    assert fallbacks() == (counted[0] + 1, counted[1] + 1)


async def test_with_the_learning_service_stopped_the_last_set_it_gave_is_applied_with_its_age(
        database_url, engine, persona_server, catalogue, learnings):
    learning = await build_learning(LearningSettings(database_url=database_url, grpc_port=0, metrics_port=0,
                                                     persona_address=persona_server), engine)
    await learning.start()
    patch = (await learnings.CreatePromptPatch(lpb.CreatePromptPatchRequest(patch=lpb.PromptPatch(
        archetype="archetypes/lamb", target=lpb.PATCH_TARGET_VOICE_PROMPT, operation=lpb.PATCH_OPERATION_BAN_PHRASE,
        phrase="no problem at all", text="Never say 'no problem at all': you have problems, that is why you are "
                                         "on this call.")))).patch
    await learnings.ApprovePromptPatch(lpb.ApprovePromptPatchRequest(name=patch.name))
    priya = pb.RenderPromptRequest(persona="personas/priya-raman")

    def fallbacks() -> float:
        return metric("sparring_persona_patch_fallback_sets_total", applied="last_known_good")

    first = await _persona_service(database_url, engine, learning.address)
    try:
        async with secure_channel(first.address) as channel:
            stub = persona_service_pb2_grpc.PersonaServiceStub(channel)
            live = await stub.RenderPrompt(priya)
            await learning.stop(grace=1)
            counted = fallbacks()
            kept = await stub.RenderPrompt(priya)
        # A replica started while the learning service is down applies the set another replica stored.
        restarted = await _persona_service(database_url, engine, learning.address)
        try:
            async with secure_channel(restarted.address) as channel:
                stored = await persona_service_pb2_grpc.PersonaServiceStub(channel).RenderPrompt(priya)
        finally:
            await restarted.stop(grace=1)
    finally:
        await first.stop(grace=1)
        await learnings.DeactivatePromptPatch(lpb.DeactivatePromptPatchRequest(name=patch.name))
    assert live.patch_source == pb.PATCH_SOURCE_LIVE and not live.HasField("patches_age")
    assert patch.name in [p.patch for p in live.applied_patches]
    for rendered in (kept, stored):
        assert rendered.patch_source == pb.PATCH_SOURCE_LAST_KNOWN_GOOD
        assert rendered.applied_patches == live.applied_patches
        assert rendered.system_prompt == live.system_prompt  # "Never say 'no problem at all'" still in it
        assert rendered.HasField("patches_age") and rendered.patches_age.ToTimedelta().total_seconds() >= 0
    assert fallbacks() == counted + 2


class PatchesByOrganization(learning_service_pb2_grpc.LearningServiceServicer):
    """A learning service whose active patches differ by organization, under one etag for every organization."""

    def __init__(self) -> None:
        self.asked_for: list[str] = []

    async def ListActivePatches(self, request, context):
        organization = dict(context.invocation_metadata()).get("x-sparring-organization", "")
        self.asked_for.append(organization)
        return lpb.ListActivePatchesResponse(active_set_etag='"1"', patches=[lpb.PromptPatch(
            name=f"patches/{organization}", target=lpb.PATCH_TARGET_VOICE_PROMPT, text=f"Only for {organization}.")])


async def test_the_patches_asked_for_are_those_of_the_organization_named_and_kept_apart_by_it():
    server, learning = grpc.aio.server(), PatchesByOrganization()
    learning_service_pb2_grpc.add_LearningServiceServicer_to_server(learning, server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials(
        [(CREDENTIALS.key_file.read_bytes(), CREDENTIALS.cert_file.read_bytes())]))
    await server.start()
    patches = LearningServicePatches(service_link(f"127.0.0.1:{port}", "persona", tls_server_name="localhost"), 5)
    try:
        # Outside any call, as background work would ask: the organization is the one named, not the call's.
        texts = {organization: [p.text for p in (await patches.active_patches(organization, "personas/p", "owl"))
                                .patches] for organization in ("acme", "globex")}
    finally:
        await patches.close()
        await server.stop(None)
    assert learning.asked_for == ["acme", "globex"]
    assert texts == {"acme": ["Only for acme."], "globex": ["Only for globex."]}


PEACOCK_LONG_TURNS = "Lively, longer turns full of anecdotes and opinions that drift off topic unless steered back."


def structured_patch(**fields) -> lpb.PromptPatch:
    values = dict(archetype="archetypes/peacock", target=lpb.PATCH_TARGET_VOICE_PROMPT,
                  operation=lpb.PATCH_OPERATION_EDIT_PART, part=lpb.PROMPT_PART_ARCHETYPE_GUIDANCE,
                  edit=lpb.PART_EDIT_REPLACE, find_text=PEACOCK_LONG_TURNS,
                  text="Lively turns of one or two sentences; one anecdote at most.",
                  scope=lpb.PatchScope(min_difficulty=3, max_difficulty=5))
    values.update(fields)
    return lpb.PromptPatch(**values)


async def test_a_structured_patch_replaces_the_rule_it_corrects_for_the_personas_it_reaches(
        patched_personas, learnings):
    patch = (await learnings.CreatePromptPatch(lpb.CreatePromptPatchRequest(patch=structured_patch()))).patch
    assert (patch.part, patch.edit, patch.scope.min_difficulty) == (lpb.PROMPT_PART_ARCHETYPE_GUIDANCE,
                                                                     lpb.PART_EDIT_REPLACE, 3)
    await learnings.ApprovePromptPatch(lpb.ApprovePromptPatchRequest(name=patch.name))
    try:
        reached = await patched_personas.RenderPrompt(pb.RenderPromptRequest(persona="personas/chloe-dubois"))
        spared = await patched_personas.RenderPrompt(pb.RenderPromptRequest(persona="personas/marcus-bell"))
    finally:
        await learnings.DeactivatePromptPatch(lpb.DeactivatePromptPatchRequest(name=patch.name))
    assert "Lively turns of one or two sentences; one anecdote at most." in reached.system_prompt  # difficulty 3
    assert "drift off topic" not in reached.system_prompt
    assert patch.name in [p.patch for p in reached.applied_patches]
    assert PEACOCK_LONG_TURNS in spared.system_prompt  # difficulty 2: outside the scope
    assert patch.name not in [p.patch for p in spared.applied_patches]


async def test_a_structured_patch_on_what_is_not_there_is_refused_naming_the_field(learnings):
    def patch_count():
        return learnings.ListPromptPatches(lpb.ListPromptPatchesRequest(archetype="archetypes/peacock",
                                                                        page_size=200))

    before = len((await patch_count()).patches)
    for patch, field, reason in (
        (structured_patch(find_text="Speaks in short, precise turns"), "patch.find_text", "TARGET_TEXT_ABSENT"),
        (structured_patch(scope=lpb.PatchScope(persona="personas/nobody-at-all")), "patch.scope.persona",
         "UNKNOWN_PERSONA"),
        (structured_patch(scope=lpb.PatchScope(persona="personas/sarah-chen")), "patch.archetype",
         "ARCHETYPE_MISMATCH"),
        (structured_patch(scope=lpb.PatchScope(min_difficulty=2, max_difficulty=6)), "patch.scope.max_difficulty",
         "INVALID_ARGUMENT"),
        (structured_patch(part=lpb.PROMPT_PART_LENGTH_RANGE, edit=lpb.PART_EDIT_ADD, find_text=""), "patch.edit",
         "INVALID_ARGUMENT"),  # a length range is only replaced
    ):
        rejection = await rejected_in("learning.sparring.dev", learnings.CreatePromptPatch(
            lpb.CreatePromptPatchRequest(patch=patch)), grpc.StatusCode.INVALID_ARGUMENT)
        assert field in rejection.fields and rejection.reason == reason, (rejection.fields, rejection.reason)
    assert len((await patch_count()).patches) == before  # nothing created


async def test_published_learned_modules_are_what_the_persona_is_told_with_their_confidence(
        patched_personas, engine):
    """A published module that calls for reinforcement is rendered for its persona alone, saying its confidence;
    a held one, and a published one the persona already does well, are not."""
    modules = [("brevity", 1.5, 6.5, "MODULE_STATUS_ACTIVE"), ("pacing", 1.0, 7.0, "MODULE_STATUS_HELD"),
               ("authenticity", 8.0, 2.0, "MODULE_STATUS_ACTIVE")]
    async with engine.begin() as connection:
        for module, positive, negative, status in modules:
            await connection.execute(sa.text(
                "INSERT INTO learning.modules (organization, persona, module, positive, negative, status, event_count)"
                " VALUES (:organization, 'personas/priya-raman', :module, :positive, :negative, :status, 8)"),
                {"organization": ORGANIZATION, "module": module, "positive": positive, "negative": negative,
                 "status": status})
    try:
        priya = await patched_personas.RenderPrompt(pb.RenderPromptRequest(persona="personas/priya-raman"))
        jamie = await patched_personas.RenderPrompt(pb.RenderPromptRequest(persona="personas/jamie-rivera"))
    finally:
        async with engine.begin() as connection:
            await connection.execute(sa.text("DELETE FROM learning.modules WHERE persona = 'personas/priya-raman'"))
    told = "Keep every answer short: one point, then stop. (learned from 8 signals; confidence 0.19)"
    assert told in priya.system_prompt
    assert [p.patch for p in priya.applied_patches if "module" in p.patch] == ["patches/module-priya-raman-brevity"]
    # Neither the held module nor the confident one is told.
    assert priya.system_prompt.count("(learned from") == 1
    assert told not in jamie.system_prompt  # another lamb
