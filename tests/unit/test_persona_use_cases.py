"""The persona catalogue's use cases on in-memory ports: writes with etags and request ids, prompt rendering
with the active patches, and without them when the learning service cannot answer."""

from __future__ import annotations

import dataclasses

import pytest

from persona_svc.domain import templates
from persona_svc.domain.patches import (
    PATCHES_UNAVAILABLE,
    PatchLookup,
    PatchSource,
    PatchTarget,
    PromptPatch,
)
from svckit.errors import EtagMismatch, InvalidArgument
from svckit.usecase import Mutation
from tests.builders import caller, persona_fields
from tests.unit.persona_fakes import FakePatches, fake_catalogue

USER = Mutation(caller=caller("author"))
SHORTER = PromptPatch("patches/shorter", PatchTarget.SYSTEM_PROMPT, "Answer in two sentences at most.")
LIVE = PatchLookup((SHORTER,), PatchSource.LIVE)


def retried(request_id: str, fingerprint: str = "same") -> Mutation:
    return dataclasses.replace(USER, request_id=request_id, fingerprint=fingerprint)


async def test_an_update_with_the_current_etag_writes_the_next_revision_and_a_stale_one_is_refused():
    catalogue, state = fake_catalogue(FakePatches(LIVE))
    created = await catalogue.create_persona(persona_fields(difficulty=2), "sarah", USER)
    assert (created.revision, created.etag) == (1, '"1"')

    updated = await catalogue.update_persona(created.id, persona_fields(difficulty=5), frozenset({"difficulty"}),
                                             created.etag, USER)
    assert (updated.revision, updated.fields.difficulty) == (2, 5)
    assert updated.fields.slug == created.fields.slug, "only the masked field changes"

    with pytest.raises(EtagMismatch):
        await catalogue.update_persona(created.id, persona_fields(difficulty=1), frozenset({"difficulty"}),
                                       created.etag, USER)
    assert state.personas[("acme", created.id)].revision == 2
    assert sorted(state.versions) == [("acme", "sarah", 1), ("acme", "sarah", 2)]


async def test_a_retried_create_is_answered_with_the_first_result_and_stored_once():
    catalogue, state = fake_catalogue(FakePatches(LIVE))
    first = await catalogue.create_persona(persona_fields(), "", retried("create-1"))
    again = await catalogue.create_persona(persona_fields(), "", retried("create-1"))
    assert again == first
    assert list(state.personas) == [("acme", first.id)]

    with pytest.raises(InvalidArgument):
        await catalogue.create_persona(persona_fields(), "", retried("create-1", fingerprint="another payload"))


async def test_a_refused_write_leaves_nothing_behind():
    catalogue, state = fake_catalogue(FakePatches(LIVE))
    with pytest.raises(InvalidArgument):
        await catalogue.create_persona(persona_fields(archetype_id="no-such-archetype"), "lost", retried("r-1"))
    assert state.personas == {} and state.requests == {}


async def test_the_prompt_carries_the_difficulty_and_the_active_patches_of_the_archetype():
    patches = FakePatches(LIVE)
    catalogue, _ = fake_catalogue(patches)
    persona = await catalogue.create_persona(persona_fields(difficulty=4), "sarah", USER)

    rendered = await catalogue.render_prompt("acme", persona.id, "")

    instructions = templates.difficulty_instructions(4)
    assert rendered.difficulty_instructions == instructions
    assert rendered.system_prompt.startswith(f"You are Sarah Chen. {instructions}")
    assert rendered.system_prompt.endswith(f"- {SHORTER.text}")
    assert (rendered.applied_patches, rendered.patch_source) == ((SHORTER,), PatchSource.LIVE)
    assert patches.asked == [("acme", "personas/sarah", "")]


async def test_without_an_answer_from_the_learning_service_the_prompt_renders_without_patches_until_it_answers():
    catalogue, _ = fake_catalogue(FakePatches(PATCHES_UNAVAILABLE, LIVE))
    persona = await catalogue.create_persona(persona_fields(), "sarah", USER)

    unpatched = await catalogue.render_prompt("acme", persona.id, "")
    assert (unpatched.applied_patches, unpatched.patch_source) == ((), PatchSource.UNAVAILABLE)
    assert SHORTER.text not in unpatched.system_prompt

    patched = await catalogue.render_prompt("acme", persona.id, "")
    assert patched.patch_source == PatchSource.LIVE
    assert SHORTER.text in patched.system_prompt
