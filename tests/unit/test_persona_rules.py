"""validate_persona_fields and friends: the rules every persona, scenario and archetype obeys."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from persona_svc.domain.model import (
    Archetype,
    Belief,
    Persona,
    PersonaConfig,
    PersonaFields,
    ScenarioFields,
    Trait,
    validate_archetype,
    validate_persona_fields,
    validate_scenario_fields,
)
from svckit.errors import FieldViolation, InvalidArgument, Violations
from svckit.names import check_resource_id
from tests.builders import persona_fields


def violations(fields: PersonaFields) -> list[FieldViolation]:
    collected = Violations()
    validate_persona_fields(fields, collected)
    try:
        collected.raise_if_any()
    except InvalidArgument as error:
        return error.violations
    return []


def fields_named(found: list[FieldViolation]) -> list[str]:
    return [v.field for v in found]


def test_a_complete_persona_is_valid():
    assert violations(persona_fields()) == []


@pytest.mark.parametrize("difficulty", [0, 6, -1, 100])
def test_difficulty_outside_one_to_five_is_refused(difficulty):
    found = violations(persona_fields(difficulty=difficulty))
    assert fields_named(found) == ["persona.difficulty"]
    assert f"got {difficulty}" in found[0].description


@pytest.mark.parametrize("difficulty", [1, 5])
def test_difficulty_bounds_are_inclusive(difficulty):
    assert violations(persona_fields(difficulty=difficulty)) == []


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_empty_or_blank_name_is_refused(name):
    found = violations(persona_fields(display_name=name))
    assert fields_named(found) == ["persona.display_name"]
    assert "required" in found[0].description


def test_overlong_name_is_refused():
    assert fields_named(violations(persona_fields(display_name="x" * 201))) == ["persona.display_name"]


def test_role_is_required():
    assert fields_named(violations(persona_fields(role=""))) == ["persona.role"]


def test_missing_blueprint_is_refused_naming_the_choices():
    found = violations(persona_fields(blueprint=None))
    assert fields_named(found) == ["persona.blueprint"]
    assert "BLUEPRINT_SALES" in found[0].description


@pytest.mark.parametrize("value", [1.5, -0.1, 1.0000001, float("nan")])
def test_trait_outside_zero_to_one_is_refused(value):
    found = violations(persona_fields(traits=(Trait("openness", 0.5), Trait("agreeableness", value))))
    assert fields_named(found) == ["persona.traits[1].value"]


def test_trait_of_one_and_a_half_names_the_value():
    found = violations(persona_fields(traits=(Trait("openness", 1.5),)))
    assert fields_named(found) == ["persona.traits[0].value"]
    assert "1.5" in found[0].description


def test_trait_names_are_required_and_unique():
    found = violations(persona_fields(traits=(Trait("openness", 0.1), Trait("openness", 0.2), Trait("", 0.3))))
    assert fields_named(found) == ["persona.traits[1].name", "persona.traits[2].name"]


def test_default_mode_must_be_an_enabled_mode():
    disabled = violations(persona_fields(config=PersonaConfig(default_mode="Mentor")))
    assert fields_named(disabled) == ["persona.config.default_mode"]
    assert "'Mentor'" in disabled[0].description
    unknown = violations(persona_fields(config=PersonaConfig(default_mode="Jester")))
    assert fields_named(unknown) == ["persona.config.default_mode"]


def test_default_mode_may_be_empty():
    assert violations(persona_fields(config=PersonaConfig(default_mode=""), modes=())) == []


@pytest.mark.parametrize(
    "slug", ["", "Sarah-Chen", "sarah chen", "-sarah", "sarah-", "sarah--chen", "sarah_chen", "sárah", "a" * 64]
)
def test_bad_slug_is_refused(slug):
    found = violations(persona_fields(slug=slug))
    assert fields_named(found) == ["persona.slug"]
    assert repr(slug) in found[0].description


@pytest.mark.parametrize("slug", ["a", "sarah-chen-cfo", "x1-2y", "a" * 63])
def test_good_slugs_pass(slug):
    assert violations(persona_fields(slug=slug)) == []


def test_avatar_must_be_an_http_url():
    assert fields_named(violations(persona_fields(avatar_uri="javascript:alert(1)"))) == ["persona.avatar_uri"]
    assert violations(persona_fields(avatar_uri="")) == []


def test_list_items_must_not_be_blank():
    found = violations(persona_fields(domains=("fintech", " "), personality_traits=("",), beliefs=(Belief(""),)))
    assert set(fields_named(found)) == {
        "persona.domains[1]", "persona.personality_traits[0]", "persona.beliefs[0].text",
    }


def test_every_violation_of_a_request_is_reported_at_once():
    found = violations(persona_fields(difficulty=0, display_name="", slug="Bad Slug", traits=(Trait("x", 1.5),)))
    assert set(fields_named(found)) == {
        "persona.difficulty", "persona.display_name", "persona.slug", "persona.traits[0].value",
    }


def test_prefix_is_used_for_every_path():
    collected = Violations()
    validate_persona_fields(persona_fields(difficulty=9), collected, prefix="persona_snapshot")
    with pytest.raises(InvalidArgument) as raised:
        collected.raise_if_any()
    assert fields_named(raised.value.violations) == ["persona_snapshot.difficulty"]


@pytest.mark.parametrize("patch", [
    {"display_name": "Sarah\x00Chen"},
    {"description": "bad\x00byte"},
    {"domains": ("fin\x00tech",)},
    {"traits": (Trait("openness", 0.5, "OC\x00EAN"),)},
])
def test_nul_characters_are_refused(patch):
    # PostgreSQL cannot store NUL in text or jsonb: refusing it here keeps it a clear INVALID_ARGUMENT.
    found = violations(persona_fields(**patch))
    assert len(found) == 1
    assert "NUL" in found[0].description


def test_resource_ids():
    collected = Violations()
    check_resource_id(collected, "persona_id", "ok-id-1")
    assert not collected
    check_resource_id(collected, "persona_id", "Not OK")
    assert collected


def test_scenario_rules():
    ok = ScenarioFields(display_name="Renewal", industry="logistics", pain_points=("late",))
    collected = Violations()
    validate_scenario_fields(ok, collected)
    assert not collected
    validate_scenario_fields(dataclasses.replace(ok, display_name="", pain_points=("",)), collected)
    with pytest.raises(InvalidArgument) as raised:
        collected.raise_if_any()
    assert fields_named(raised.value.violations) == ["scenario.display_name", "scenario.pain_points[0]"]


def test_archetype_rules():
    collected = Violations()
    validate_archetype(Archetype(id="owl", display_name="Owl"), collected)
    assert not collected
    validate_archetype(Archetype(id="Owl!", display_name=" "), collected)
    with pytest.raises(InvalidArgument) as raised:
        collected.raise_if_any()
    assert fields_named(raised.value.violations) == ["archetype_id", "archetype.display_name"]


def test_fields_survive_a_record_round_trip():
    fields = persona_fields(archetype_id="owl", protected=True, real_person=True, sources=("https://example.com",))
    assert PersonaFields.from_record(fields.to_record()) == fields
    assert PersonaFields.from_record(persona_fields(blueprint=None).to_record()).blueprint is None


def test_persona_etag_and_record_round_trip():
    now = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    persona = Persona(id="p-1", fields=persona_fields(), revision=7, create_time=now, update_time=now)
    assert persona.etag == '"7"'
    assert persona.resource_name == "personas/p-1"
    assert not persona.deleted
    assert Persona.from_record(persona.to_record()) == persona
    deleted = dataclasses.replace(persona, delete_time=now)
    assert deleted.deleted and Persona.from_record(deleted.to_record()) == deleted
