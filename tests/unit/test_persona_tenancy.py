"""The catalogue's rules of organizations and owners on in-memory ports: every resource belongs to the organization
that created it and is invisible to others (NOT_FOUND exactly as if it did not exist), ids and request ids are
unique per organization, and a persona or scenario is changed by the organization's admins and its owners only."""

from __future__ import annotations

import dataclasses

import pytest

from persona_svc.domain.model import Archetype, PersonaFilter, ScenarioFields
from persona_svc.domain.patches import PATCHES_DISABLED
from svckit.cache import InvalidatedCache
from svckit.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from svckit.usecase import Mutation
from tests.builders import caller, persona_fields
from tests.unit.persona_fakes import FakePatches, fake_catalogue


def admin_of(organization: str) -> Mutation:
    return Mutation(caller=caller("admin", subject=f"admin@{organization}", organization=organization))


ACME_ADMIN = Mutation(caller=caller("admin", subject="admin@acme"))
ACME_AUTHOR = Mutation(caller=caller("author", subject="author@acme"))
OTHER_ACME_AUTHOR = Mutation(caller=caller("author", subject="other-author@acme"))
GLOBEX_ADMIN = admin_of("globex")
# A service's token without x-sparring-organization: it acts for no organization.
NO_ORGANIZATION = Mutation(caller=caller("service", subject="service:transcript", organization=""))


def new_catalogue():
    return fake_catalogue(FakePatches(PATCHES_DISABLED))


async def refusal(call) -> DomainError:
    with pytest.raises(DomainError) as raised:
        await call
    return raised.value


async def test_a_persona_of_another_organization_is_not_found_exactly_as_a_missing_one():
    catalogue, state = new_catalogue()
    persona = await catalogue.create_persona(persona_fields(), "sarah", ACME_ADMIN)
    await catalogue.create_persona(persona_fields(), "other", GLOBEX_ADMIN)

    difficulty = persona_fields(difficulty=5)
    calls = (
        lambda organization: catalogue.get_persona(organization, "sarah"),
        lambda organization: catalogue.get_version(organization, "sarah", 1),
        lambda organization: catalogue.list_versions(organization, "sarah", 10, ""),
        lambda organization: catalogue.render_prompt(organization, "sarah", ""),
        lambda organization: catalogue.update_persona("sarah", difficulty, frozenset({"difficulty"}), "",
                                                      admin_of(organization)),
        lambda organization: catalogue.delete_persona("sarah", "", admin_of(organization)),
        lambda organization: catalogue.undelete_persona("sarah", "", admin_of(organization)),
        lambda organization: catalogue.rollback_persona("sarah", 1, "", admin_of(organization)),
    )
    for call in calls:
        # globex holds other personas; initech holds none at all.
        found, not_there = await refusal(call("globex")), await refusal(call("initech"))
        assert isinstance(found, NotFound)
        assert (type(found), found.message, found.reason, found.metadata) == (
            type(not_there), not_there.message, not_there.reason, not_there.metadata)
    assert state.personas[("acme", "sarah")] == persona


async def test_two_organizations_each_hold_a_persona_of_the_same_id_and_slug_and_see_only_their_own():
    catalogue, state = new_catalogue()
    fields = persona_fields()
    ours = await catalogue.create_persona(fields, "sarah", ACME_ADMIN)
    theirs = await catalogue.create_persona(dataclasses.replace(fields, display_name="Sarah Globex"), "sarah",
                                            GLOBEX_ADMIN)

    assert (await catalogue.get_persona("acme", "sarah")) == ours
    assert (await catalogue.get_persona("globex", "sarah")) == theirs
    assert [p.fields.display_name for p in (await catalogue.list_personas("globex", PersonaFilter(), 10, "")).items
            ] == ["Sarah Globex"]
    assert [hit.persona for hit in await catalogue.search("acme", "sarah", None, 10)] == [ours]
    assert sorted(state.personas) == [("acme", "sarah"), ("globex", "sarah")]


async def test_the_read_caches_keep_organizations_apart():
    caches = [InvalidatedCache(name) for name in ("personas", "scenarios", "archetypes")]
    for cache in caches:
        cache.enable()
    catalogue, _ = fake_catalogue(FakePatches(PATCHES_DISABLED), caches=caches)
    await catalogue.create_persona(persona_fields(), "sarah", ACME_ADMIN)
    await catalogue.create_scenario(ScenarioFields("Q2 cost review"), "q2", ACME_ADMIN)
    await catalogue.create_archetype(Archetype("owl", "Owl"), ACME_ADMIN)
    await catalogue.get_persona("acme", "sarah")
    await catalogue.get_scenario("acme", "q2")
    await catalogue.get_archetype("acme", "owl")

    for read in (catalogue.get_persona("globex", "sarah"), catalogue.get_scenario("globex", "q2"),
                 catalogue.get_archetype("globex", "owl")):
        assert isinstance(await refusal(read), NotFound)


async def test_request_ids_are_kept_per_organization():
    catalogue, state = new_catalogue()
    ours = await catalogue.create_persona(persona_fields(), "", dataclasses.replace(ACME_ADMIN, request_id="r-1"))
    theirs = await catalogue.create_persona(persona_fields(), "", dataclasses.replace(GLOBEX_ADMIN, request_id="r-1"))
    assert ours.id != theirs.id
    assert sorted(state.personas) == sorted([("acme", ours.id), ("globex", theirs.id)])


async def test_a_caller_of_no_organization_sees_nothing_and_creates_nothing():
    catalogue, state = new_catalogue()
    await catalogue.create_persona(persona_fields(), "sarah", ACME_ADMIN)

    assert isinstance(await refusal(catalogue.get_persona("", "sarah")), NotFound)
    assert (await catalogue.list_personas("", PersonaFilter(), 10, "")).items == []
    assert await catalogue.search("", "sarah", None, 10) == []
    for create in (catalogue.create_persona(persona_fields(), "other", NO_ORGANIZATION),
                   catalogue.create_scenario(ScenarioFields("Q2 cost review"), "q2", NO_ORGANIZATION),
                   catalogue.create_archetype(Archetype("owl", "Owl"), NO_ORGANIZATION)):
        refused = await refusal(create)
        assert isinstance(refused, FailedPrecondition) and refused.reason == "ORGANIZATION_REQUIRED"
    assert list(state.personas) == [("acme", "sarah")] and state.scenarios == {} and state.archetypes == {}


async def test_a_persona_may_use_only_an_archetype_of_its_own_organization():
    catalogue, _ = new_catalogue()
    await catalogue.create_archetype(Archetype("owl", "Owl"), GLOBEX_ADMIN)
    refused = await refusal(catalogue.create_persona(persona_fields(archetype_id="owl"), "sarah", ACME_ADMIN))
    assert isinstance(refused, InvalidArgument) and refused.reason == "UNKNOWN_ARCHETYPE"
    await catalogue.create_archetype(Archetype("owl", "Owl"), ACME_ADMIN)
    assert (await catalogue.create_persona(persona_fields(archetype_id="owl"), "sarah", ACME_ADMIN)).fields.owners


# --- owners ---------------------------------------------------------------------------------------


async def test_the_creator_is_the_first_owner_and_only_owners_and_admins_change_a_persona():
    catalogue, state = new_catalogue()
    persona = await catalogue.create_persona(persona_fields(owners=("author@acme", "ghost@acme")), "sarah",
                                             OTHER_ACME_AUTHOR)
    assert persona.fields.owners == ("other-author@acme", "author@acme", "ghost@acme")

    solo = await catalogue.create_persona(persona_fields(), "solo", OTHER_ACME_AUTHOR)
    assert solo.fields.owners == ("other-author@acme",)
    for attempt in (
        catalogue.update_persona("solo", persona_fields(difficulty=5), frozenset({"difficulty"}), "", ACME_AUTHOR),
        catalogue.delete_persona("solo", "", ACME_AUTHOR),
        catalogue.rollback_persona("solo", 1, "", ACME_AUTHOR),
    ):
        refused = await refusal(attempt)
        assert isinstance(refused, PermissionDenied) and refused.reason == "NOT_AN_OWNER"
    assert state.personas[("acme", "solo")] == solo

    updated = await catalogue.update_persona("sarah", persona_fields(difficulty=5), frozenset({"difficulty"}), "",
                                             ACME_AUTHOR)
    assert updated.fields.difficulty == 5
    await catalogue.delete_persona("solo", "", ACME_ADMIN)
    refused = await refusal(catalogue.undelete_persona("solo", "", ACME_AUTHOR))
    assert isinstance(refused, PermissionDenied) and refused.reason == "NOT_AN_OWNER"
    assert not (await catalogue.undelete_persona("solo", "", OTHER_ACME_AUTHOR)).deleted


async def test_a_protected_persona_needs_an_admin_even_for_its_owner():
    catalogue, _ = new_catalogue()
    protected = await catalogue.create_persona(persona_fields(protected=True, owners=("author@acme",)), "sarah",
                                               ACME_ADMIN)
    assert "author@acme" in protected.fields.owners
    for attempt in (
        catalogue.update_persona("sarah", persona_fields(difficulty=5), frozenset({"difficulty"}), "", ACME_AUTHOR),
        catalogue.delete_persona("sarah", "", ACME_AUTHOR),
        catalogue.rollback_persona("sarah", 1, "", ACME_AUTHOR),
    ):
        refused = await refusal(attempt)
        assert isinstance(refused, PermissionDenied) and refused.reason == "ADMIN_REQUIRED"


@pytest.mark.parametrize(("owners", "field"), [
    ((), "persona.owners"),
    (tuple(f"owner-{n}" for n in range(21)), "persona.owners"),
    (("author@acme", "author@acme"), "persona.owners[1]"),
    (("author@acme", ""), "persona.owners[1]"),
    (("x" * 201,), "persona.owners[0]"),
    (("author@acme\n",), "persona.owners[0]"),
])
async def test_owners_are_one_to_twenty_distinct_subjects_without_control_characters(owners, field):
    catalogue, state = new_catalogue()
    persona = await catalogue.create_persona(persona_fields(), "sarah", ACME_AUTHOR)
    refused = await refusal(catalogue.update_persona("sarah", persona_fields(owners=owners), frozenset({"owners"}),
                                                     "", ACME_AUTHOR))
    assert isinstance(refused, InvalidArgument)
    assert field in [v.field for v in refused.violations]
    assert state.personas[("acme", "sarah")] == persona


async def test_owners_hand_a_persona_over_their_versions_record_them_and_a_rollback_keeps_the_current_ones():
    catalogue, _ = new_catalogue()
    await catalogue.create_persona(persona_fields(difficulty=2), "sarah", ACME_AUTHOR)
    await catalogue.update_persona("sarah", persona_fields(owners=("other-author@acme",)), frozenset({"owners"}), "",
                                   ACME_AUTHOR)
    refused = await refusal(catalogue.update_persona("sarah", persona_fields(difficulty=5), frozenset({"difficulty"}),
                                                     "", ACME_AUTHOR))
    assert refused.reason == "NOT_AN_OWNER"

    versions = (await catalogue.list_versions("acme", "sarah", 10, "")).items
    assert [v.snapshot.fields.owners for v in versions] == [("other-author@acme",), ("author@acme",)]
    rolled_back = await catalogue.rollback_persona("sarah", 1, "", OTHER_ACME_AUTHOR)
    assert (rolled_back.fields.difficulty, rolled_back.fields.owners) == (2, ("other-author@acme",))


async def test_a_persona_stored_before_owners_were_recorded_is_changed_by_admins_until_they_name_its_owners():
    catalogue, state = new_catalogue()
    persona = await catalogue.create_persona(persona_fields(), "sarah", ACME_ADMIN)
    # As a row written before personas had owners reads: no owners at all.
    state.personas[("acme", "sarah")] = dataclasses.replace(persona, fields=dataclasses.replace(persona.fields,
                                                                                                owners=()))
    refused = await refusal(catalogue.update_persona("sarah", persona_fields(difficulty=5), frozenset({"difficulty"}),
                                                     "", ACME_AUTHOR))
    assert refused.reason == "NOT_AN_OWNER"

    await catalogue.update_persona("sarah", persona_fields(owners=("author@acme",)), frozenset({"owners"}), "",
                                   ACME_ADMIN)
    updated = await catalogue.update_persona("sarah", persona_fields(difficulty=5), frozenset({"difficulty"}), "",
                                             ACME_AUTHOR)
    assert (updated.fields.difficulty, updated.fields.owners) == (5, ("author@acme",))


async def test_a_scenario_is_changed_or_deleted_by_its_creator_or_an_admin():
    catalogue, state = new_catalogue()
    scenario = await catalogue.create_scenario(ScenarioFields("Q2 cost review"), "q2", OTHER_ACME_AUTHOR)
    assert scenario.creator == "other-author@acme"
    for attempt in (catalogue.update_scenario("q2", ScenarioFields("Renamed"), frozenset({"display_name"}), "",
                                              ACME_AUTHOR),
                    catalogue.delete_scenario("q2", "", ACME_AUTHOR)):
        refused = await refusal(attempt)
        assert isinstance(refused, PermissionDenied) and refused.reason == "NOT_AN_OWNER"
    assert state.scenarios[("acme", "q2")] == scenario

    renamed = await catalogue.update_scenario("q2", ScenarioFields("Renamed"), frozenset({"display_name"}), "",
                                              OTHER_ACME_AUTHOR)
    assert (renamed.fields.display_name, renamed.creator) == ("Renamed", "other-author@acme")
    await catalogue.delete_scenario("q2", "", ACME_ADMIN)
    assert state.scenarios == {}

