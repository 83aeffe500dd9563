"""Prompt templates: which placeholders they may use, how they are checked and how they render."""

from __future__ import annotations

import pytest

from persona_svc.domain import templates
from persona_svc.domain.model import Archetype, ScenarioFields
from svckit.errors import FieldViolation, InvalidArgument, Violations
from tests.builders import persona_fields

FIELD = "persona.prompt_template"


def violations_of(template: str, field: str = FIELD) -> list[FieldViolation]:
    violations = Violations()
    templates.check_template(template, field, violations)
    try:
        violations.raise_if_any()
    except InvalidArgument as error:
        return error.violations
    return []


SCENARIO = ScenarioFields(
    display_name="Renewal at risk",
    company_size="mid-market",
    industry="logistics",
    description="The customer is unhappy",
    pain_points=("late shipments", "manual invoicing"),
    budget_range="$50k-$120k",
    decision_timeline="end of Q3",
)


def test_every_known_placeholder_passes_the_check():
    template = " ".join("{" + name + "}" for name in sorted(templates.KNOWN_PLACEHOLDERS))
    assert violations_of(template) == []


def test_plain_text_and_empty_templates_pass():
    assert violations_of("") == []
    assert violations_of("You are a buyer. Be brief.") == []


def test_unknown_placeholder_is_one_violation_naming_field_and_placeholder():
    found = violations_of("You are {persona.name}. Budget: {persona.budget}.")
    assert len(found) == 1
    assert found[0].field == FIELD
    assert "{persona.budget}" in found[0].description
    assert "unknown placeholder" in found[0].description


def test_each_unknown_placeholder_is_reported_separately():
    found = violations_of("{foo} and {scenario.nope} and {persona.role}", "persona.first_message_template")
    assert [v.field for v in found] == ["persona.first_message_template"] * 2
    assert "{foo}" in found[0].description
    assert "{scenario.nope}" in found[1].description


def test_group_of_a_placeholder_matters():
    # "industry" is a scenario field, not a persona one.
    found = violations_of("{persona.industry}")
    assert len(found) == 1 and "{persona.industry}" in found[0].description


def test_empty_placeholder_is_unknown():
    assert len(violations_of("a {} b")) == 1


@pytest.mark.parametrize("template", ["a { b", "a } b", "{persona.name", "persona.name}", "{{ {"])
def test_a_lone_brace_must_be_escaped(template):
    found = violations_of(template)
    assert found, template
    assert all(v.field == FIELD for v in found)
    assert any("unbalanced" in v.description for v in found)


def test_doubled_braces_are_literal_and_pass_the_check():
    assert violations_of("JSON looks like {{\"k\": 1}} and {{persona.name}} is literal") == []


def test_placeholders_lists_each_with_its_offset():
    found = templates.placeholders("Hi {persona.name}, {{not}} {difficulty_instructions}")
    assert [(p.text, p.start) for p in found] == [("persona.name", 3), ("difficulty_instructions", 27)]


def test_render_fills_persona_scenario_and_difficulty():
    values = templates.template_values(persona_fields(), SCENARIO, None)
    out = templates.render(
        "You are {persona.name}, {persona.role} ({persona.blueprint}, level {persona.difficulty}). "
        "Scenario: {scenario.name} in {scenario.industry}, {scenario.company_size}. {difficulty_instructions}",
        values,
    )
    assert out.startswith("You are Sarah Chen, VP Finance (sales, level 3). Scenario: Renewal at risk in logistics")
    assert out.endswith(templates.DIFFICULTY_INSTRUCTIONS[3])


def test_render_joins_lists():
    values = templates.template_values(persona_fields(), SCENARIO, None)
    assert templates.render("{persona.personality_traits}", values) == "analytical, direct"
    assert templates.render("{persona.domains}", values) == "fintech, saas"
    assert templates.render("{persona.objection_patterns}", values) == "- too expensive\n- no time"
    assert templates.render("{persona.beliefs}", values) == "- Cash is king\n- Measure twice"
    assert templates.render("{scenario.pain_points}", values) == "- late shipments\n- manual invoicing"


def test_render_turns_doubled_braces_into_single_ones_without_substituting():
    values = templates.template_values(persona_fields(), None, None)
    assert templates.render("{{persona.name}} is {persona.name}", values) == "{persona.name} is Sarah Chen"
    assert templates.render("{{{persona.name}}}", values) == "{Sarah Chen}"
    assert templates.render('{{"a": 1}}', values) == '{"a": 1}'


def test_render_tolerates_spaces_inside_a_placeholder():
    values = templates.template_values(persona_fields(), None, None)
    assert violations_of("{ persona.name }") == []
    assert templates.render("{ persona.name }", values) == "Sarah Chen"


def test_render_leaves_an_unknown_placeholder_as_written():
    values = templates.template_values(persona_fields(), None, None)
    assert templates.render("x {persona.budget} y", values) == "x {persona.budget} y"


def test_render_without_scenario_leaves_scenario_placeholders_empty():
    values = templates.template_values(persona_fields(), None, None)
    assert templates.render("[{scenario.name}|{scenario.industry}|{scenario.pain_points}]", values) == "[||]"


def test_archetype_guidance_comes_from_the_archetype():
    archetype = Archetype(id="owl", display_name="Owl", voice_guidance="Speak slowly and ask why.")
    guidance = templates.template_values(persona_fields(), None, archetype)["archetype_guidance"]
    assert guidance == "Speak slowly and ask why."
    assert templates.template_values(persona_fields(), None, None)["archetype_guidance"] == ""


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_each_level_has_its_own_difficulty_instructions(level):
    values = templates.template_values(persona_fields(difficulty=level), None, None)
    assert values["difficulty_instructions"] == templates.DIFFICULTY_INSTRUCTIONS[level]
    assert values["difficulty_instructions"].startswith(f"Difficulty {level} ")
    others = [text for other, text in templates.DIFFICULTY_INSTRUCTIONS.items() if other != level]
    assert values["difficulty_instructions"] not in others


def test_every_template_value_is_a_known_placeholder():
    values = templates.template_values(persona_fields(), SCENARIO, None)
    assert set(values) == templates.KNOWN_PLACEHOLDERS
