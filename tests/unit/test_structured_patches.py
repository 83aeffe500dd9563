"""Structured patches: an edit of a named part of what a persona is told, for the personas of its scope. The
rendered prompt is the result, so a patch that corrects a rule removes the rule it corrects; and a structured patch
that does not fit its part, or names a scope outside 1-5, is refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sparring.learning.v1 import learning_service_pb2 as pb

from calls.prompt_parts import Edit, edit_items, edit_text, items_have, text_has
from learning_svc.entrypoints.convert import patch_change
from persona_svc.domain.model import Archetype, Persona
from persona_svc.domain.patches import PartChange, PatchLookup, PatchSource, PatchTarget, PromptPart, PromptPatch
from persona_svc.domain.templates import render_prompt
from svckit.errors import InvalidArgument
from tests.builders import persona_fields

OWL = Archetype("owl", "Owl", voice_guidance="Long-winded: rambles through every detail before the point. Asks for "
                                              "numbers.")
TEMPLATE = "You are {persona.name}. {archetype_guidance} Style: {persona.communication_style}. " \
           "Traits: {persona.personality_traits}.\nObjections:\n{persona.objection_patterns}"


def owl(persona_id: str, difficulty: int) -> Persona:
    fields = persona_fields(difficulty=difficulty, archetype_id="owl", prompt_template=TEMPLATE)
    now = datetime.now(UTC)
    return Persona(persona_id, fields, 1, now, now)


def patch(change: PartChange, name: str = "patches/p1") -> PromptPatch:
    return PromptPatch(name, PatchTarget.VOICE_PROMPT, change.text, change)


def rendered(persona: Persona, *patches: PromptPatch) -> str:
    return render_prompt(persona, None, OWL, PatchLookup(patches, PatchSource.LIVE)).system_prompt


def test_text_and_list_edits() -> None:
    assert text_has("Long-winded:  RAMBLES through", "rambles through")
    assert edit_text("Long-winded: rambles. Asks.", Edit.REPLACE, "Long-winded: rambles.", "Brief.") == "Brief. Asks."
    assert edit_text("Long-winded, rambles. Asks.", Edit.REMOVE, "rambles", "") == "Long-winded,. Asks."
    assert edit_text("Asks.", Edit.ADD, "", "Keeps it short.") == "Asks. Keeps it short."
    assert items_have(("Too Expensive",), "too expensive")
    assert edit_items(("a", "b"), Edit.REPLACE, "B", "c") == ("a", "c")
    assert edit_items(("a", "b"), Edit.REMOVE, "a", "") == ("b",)
    assert edit_items(("a",), Edit.ADD, "", "a") == ("a",)


def test_a_correcting_patch_removes_the_rule_it_corrects() -> None:
    correction = patch(PartChange(PromptPart.ARCHETYPE_GUIDANCE, Edit.REPLACE,
                                  find_text="Long-winded: rambles through every detail before the point.",
                                  text="Gets to the point in one or two sentences."))
    prompt = rendered(owl("kenji", 4), correction)
    assert "Gets to the point in one or two sentences. Asks for numbers." in prompt
    assert "rambles" not in prompt and "Long-winded" not in prompt
    assert "Voice delivery rules" not in prompt  # edited in place, not appended


def test_the_scope_decides_which_personas_a_patch_reaches() -> None:
    hard_owls = patch(PartChange(PromptPart.COMMUNICATION_STYLE, Edit.REPLACE, find_text="brief", text="curt",
                                 min_difficulty=4, max_difficulty=5))
    assert "Style: curt." in rendered(owl("kenji", 4), hard_owls)
    easy = render_prompt(owl("raj", 2), None, OWL, PatchLookup((hard_owls,), PatchSource.LIVE))
    assert "Style: brief." in easy.system_prompt and easy.applied_patches == ()
    only_raj = patch(PartChange(PromptPart.PERSONALITY_TRAITS, Edit.ADD, text="impatient", persona="personas/raj"))
    assert "Traits: analytical, direct, impatient." in rendered(owl("raj", 2), only_raj)
    assert "impatient" not in rendered(owl("kenji", 4), only_raj)


def test_list_parts_and_rules_of_their_own() -> None:
    prompt = rendered(
        owl("kenji", 4),
        patch(PartChange(PromptPart.OBJECTION_PATTERNS, Edit.REMOVE, find_text="No time")),
        patch(PartChange(PromptPart.BANNED_PHRASES, Edit.ADD, text="great question"), "patches/p2"),
        patch(PartChange(PromptPart.LENGTH_RANGE, Edit.REPLACE, words_per_turn=(8, 16)), "patches/p3"),
        PromptPatch("patches/p4", PatchTarget.SYSTEM_PROMPT, "Ask for a reference."),
    )
    assert "- too expensive" in prompt and "no time" not in prompt
    assert "Rules of this persona:\n- Never say 'great question'.\n- Keep every answer to 8-16 words." in prompt
    assert prompt.endswith("Refinements learned from earlier calls:\n- Ask for a reference.")


def structured(**fields: object) -> pb.PromptPatch:
    values: dict[str, object] = dict(archetype="archetypes/owl", target=pb.PATCH_TARGET_VOICE_PROMPT,
                                     operation=pb.PATCH_OPERATION_EDIT_PART, part=pb.PROMPT_PART_ARCHETYPE_GUIDANCE,
                                     edit=pb.PART_EDIT_REPLACE, find_text="rambles", text="gets to the point")
    values.update(fields)
    return pb.PromptPatch(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("fields", "field", "says"), [
    (dict(part=0), "patch.part", "is required"),
    (dict(part=42), "patch.part", "not a known PromptPart"),
    (dict(part=pb.PROMPT_PART_BANNED_PHRASES), "patch.edit", "does not fit PROMPT_PART_BANNED_PHRASES"),
    (dict(part=pb.PROMPT_PART_LENGTH_RANGE, edit=pb.PART_EDIT_ADD, find_text=""), "patch.edit", "does not fit"),
    (dict(part=pb.PROMPT_PART_LENGTH_RANGE, find_text=""), "patch.words_per_turn", "is required"),
    (dict(find_text=""), "patch.find_text", "is required for REPLACE"),
    (dict(edit=pb.PART_EDIT_REMOVE), "patch.text", "must be empty"),
    (dict(edit=pb.PART_EDIT_ADD), "patch.find_text", "is only for"),
    (dict(scope=pb.PatchScope(min_difficulty=0, max_difficulty=7)), "patch.scope.max_difficulty", "between 1 and 5"),
    (dict(scope=pb.PatchScope(min_difficulty=4, max_difficulty=2)), "patch.scope.max_difficulty", "at least"),
    (dict(scope=pb.PatchScope(persona="personas/raj", min_difficulty=1, max_difficulty=2)),
     "patch.scope.min_difficulty", "takes no difficulty range"),
    (dict(scope=pb.PatchScope(persona="raj")), "patch.scope.persona", "personas/{id}"),
    (dict(operation=pb.PATCH_OPERATION_ADD_RULE), "patch.part", "only for PATCH_OPERATION_EDIT_PART"),
])
def test_a_structured_patch_that_does_not_fit_is_refused_naming_the_field(fields, field, says) -> None:
    with pytest.raises(InvalidArgument) as refused:
        patch_change(structured(**fields))
    assert any(v.field == field and says in v.description for v in refused.value.violations), refused.value.violations


def test_a_structured_patch_that_fits() -> None:
    change = patch_change(structured(scope=pb.PatchScope(min_difficulty=3, max_difficulty=5)))
    assert (change.find_text, change.text, change.scope.min_difficulty, change.scope.max_difficulty) == (
        "rambles", "gets to the point", 3, 5)
