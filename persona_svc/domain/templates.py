"""Prompt templates: the placeholders they may use, how they are checked and rendered."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from calls.prompt_parts import Edit, items_have, text_has
from persona_svc.domain.model import Archetype, Persona, PersonaFields, Scenario, ScenarioFields
from persona_svc.domain.patches import (
    CandidatePatch,
    PatchLookup,
    PatchSource,
    PromptPart,
    PromptParts,
    PromptPatch,
    apply_patches,
    edit_parts,
)
from svckit.errors import FieldViolation, InvalidArgument, Violations

# {name} or {group.name}; {{ and }} are literal braces.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")

PERSONA_PLACEHOLDERS = frozenset({
    "name", "display_name", "role", "blueprint", "difficulty", "company_context", "personality_traits",
    "communication_style", "objection_patterns", "description", "domains", "beliefs",
})
SCENARIO_PLACEHOLDERS = frozenset({
    "name", "company_size", "industry", "description", "pain_points", "budget_range", "decision_timeline",
})
OTHER_PLACEHOLDERS = frozenset({"difficulty_instructions", "archetype_guidance"})
KNOWN_PLACEHOLDERS = frozenset(
    {f"persona.{p}" for p in PERSONA_PLACEHOLDERS}
    | {f"scenario.{p}" for p in SCENARIO_PLACEHOLDERS}
    | OTHER_PLACEHOLDERS
)

DIFFICULTY_INSTRUCTIONS: Mapping[int, str] = {
    1: (
        "Difficulty 1 (warm-up): be friendly and forthcoming. Share your pain points, budget and timeline "
        "as soon as you are asked. Raise at most one mild objection and accept a reasonable answer."
    ),
    2: (
        "Difficulty 2 (cooperative): be open but busy. Answer direct questions fully, volunteer little. "
        "Raise one or two common objections and let a clear answer resolve them."
    ),
    3: (
        "Difficulty 3 (realistic): be polite and guarded. Reveal budget, timeline and decision process only "
        "to specific, well-earned questions. Push back on vague claims and ask for evidence."
    ),
    4: (
        "Difficulty 4 (demanding): be sceptical and short on time. Keep answers brief, interrupt long "
        "pitches, raise several hard objections (price, risk, a competitor) and hold them until they are "
        "answered with specifics. Commit to a next step only if value is proven."
    ),
    5: (
        "Difficulty 5 (hostile): be impatient and dismissive. Give one-line answers, challenge every "
        "assumption, bring up a curveball (a budget freeze, a rival quote, a sceptical boss) without warning, "
        "and threaten to end the call if the candidate wastes your time. Never volunteer information."
    ),
}


def difficulty_instructions(difficulty: int) -> str:
    """How the persona plays its difficulty: the ``{difficulty_instructions}`` of its template."""
    return DIFFICULTY_INSTRUCTIONS.get(difficulty, "")


@dataclass(frozen=True)
class RenderedPrompt:
    system_prompt: str
    first_message: str
    difficulty_instructions: str
    applied_patches: tuple[PromptPatch, ...]
    patch_source: PatchSource
    persona_revision: int
    patches_confirm_time: datetime | None = None  # a last-known-good set: when the learning service last gave it
    experiment: str = ""  # the experiment variant applied, if the session rendered plays one
    experiment_variant: str = ""
    withheld_patches: tuple[str, ...] = ()  # published patches the request left out of this rendering


def render_prompt(persona: Persona, scenario: Scenario | None, archetype: Archetype | None,
                  lookup: PatchLookup) -> RenderedPrompt:
    """The persona's templates filled for the scenario with the parts its structured patches edited, its system
    prompt with the other active patches appended. Structured patches whose scope leaves the persona out are not
    applied."""
    fields = persona.fields
    applied = _reaching(persona, lookup.patches)
    parts = _edited_parts(persona, archetype, applied)
    edited_fields = replace(fields, communication_style=parts.communication_style,
                            personality_traits=parts.personality_traits, objection_patterns=parts.objection_patterns)
    edited_archetype = replace(archetype, voice_guidance=parts.archetype_guidance) if archetype else None
    values = template_values(edited_fields, scenario.fields if scenario else None, edited_archetype)
    return RenderedPrompt(
        system_prompt=apply_patches(render(fields.prompt_template, values), applied, parts.rules()),
        first_message=render(fields.first_message_template, values),
        difficulty_instructions=difficulty_instructions(fields.difficulty),
        applied_patches=applied,
        patch_source=lookup.source,
        persona_revision=persona.revision,
        patches_confirm_time=lookup.confirm_time,
        experiment=lookup.experiment,
        experiment_variant=lookup.experiment_variant,
    )


def _reaching(persona: Persona, patches: Iterable[PromptPatch]) -> tuple[PromptPatch, ...]:
    return tuple(patch for patch in patches
                 if patch.change is None or patch.change.reaches(persona.resource_name, persona.fields.difficulty))


def _edited_parts(persona: Persona, archetype: Archetype | None, applied: Iterable[PromptPatch]) -> PromptParts:
    fields = persona.fields
    return edit_parts(PromptParts(archetype.voice_guidance if archetype else "", fields.communication_style,
                                  fields.personality_traits, fields.objection_patterns),
                      (patch.change for patch in applied if patch.change is not None))


def check_candidates(persona: Persona, archetype: Archetype | None, published: Iterable[PromptPatch],
                     candidates: Iterable[CandidatePatch]) -> None:
    """Each candidate reaches the persona, as a published patch of its archetype and scope would, and what it
    replaces or removes is in the persona's part once the published patches (and the candidates before it) edited
    it: rendered otherwise, it would show the persona unchanged. INVALID_ARGUMENT naming the field otherwise."""
    before = list(_reaching(persona, published))
    for candidate in candidates:
        patch, change, field = candidate.patch, candidate.patch.change, candidate.field
        if candidate.archetype_id and candidate.archetype_id != persona.fields.archetype_id:
            raise InvalidArgument(FieldViolation(f"{field}.archetype", f"must be empty or the archetype of "
                                                 f"{persona.resource_name} "
                                                 f"({_archetype_name(persona.fields.archetype_id)})"),
                                  reason="ARCHETYPE_MISMATCH")
        if change is not None and not change.reaches(persona.resource_name, persona.fields.difficulty):
            raise InvalidArgument(FieldViolation(f"{field}.scope", f"does not reach {persona.resource_name} "
                                                 f"(difficulty {persona.fields.difficulty})"),
                                  reason="PERSONA_NOT_REACHED")
        if change is not None and change.edit is not Edit.ADD and change.part is not PromptPart.LENGTH_RANGE:
            parts = _edited_parts(persona, archetype, before)
            found = (text_has(getattr(parts, change.part.value), change.find_text)
                     if change.part in (PromptPart.ARCHETYPE_GUIDANCE, PromptPart.COMMUNICATION_STYLE)
                     else items_have(getattr(parts, change.part.value), change.find_text))
            if not found:
                raise InvalidArgument(FieldViolation(f"{field}.find_text", f"{change.find_text[:100]!r} cannot be "
                                                     f"{change.edit.value}d: it is not in the {change.part.value} of "
                                                     f"{persona.resource_name}"), reason="TARGET_TEXT_ABSENT")
        before.append(patch)


def _archetype_name(archetype_id: str) -> str:
    return f"archetypes/{archetype_id}" if archetype_id else "none"


def render_candidates(persona: Persona, scenario: Scenario | None, archetype: Archetype | None, lookup: PatchLookup,
                      candidates: Iterable[CandidatePatch], withheld: Sequence[str] = ()) -> RenderedPrompt:
    """The rendering without the published patches withheld and with the candidates applied after the others, for
    this rendering only."""
    candidates = list(candidates)
    published = _without(persona, lookup.patches, withheld)
    check_candidates(persona, archetype, published, candidates)
    rendered = render_prompt(persona, scenario, archetype,
                             replace(lookup, patches=(*published, *(c.patch for c in candidates))))
    return replace(rendered, withheld_patches=tuple(withheld))


def _without(persona: Persona, published: Sequence[PromptPatch], withheld: Sequence[str]) -> tuple[PromptPatch, ...]:
    """The published patches but those withheld, each of which must be one this rendering applies: naming another
    would render the persona unchanged as if it had been left out."""
    applied = {patch.name for patch in _reaching(persona, published)}
    absent = [FieldViolation(f"withheld_patches[{index}]", f"{name!r} is not a published patch applied to "
                                                            f"{persona.resource_name}")
              for index, name in enumerate(withheld) if name not in applied]
    if absent:
        raise InvalidArgument(absent, reason="PATCH_NOT_APPLIED")
    return tuple(patch for patch in published if patch.name not in withheld)


@dataclass(frozen=True, slots=True)
class Placeholder:
    text: str
    start: int


def placeholders(template: str) -> list[Placeholder]:
    found = []
    for match in _TOKEN.finditer(template):
        if match.group(1) is not None:
            found.append(Placeholder(match.group(1), match.start()))
    return found


def check_template(template: str, field_path: str, violations: Violations) -> None:
    """Every placeholder must be known and every lone brace escaped; each problem is one violation."""
    for match in _TOKEN.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None:
            violations.add(field_path, f"unbalanced {token!r} at offset {match.start()}; write {token * 2} for a "
                           "literal brace")
        elif match.group(1).strip() not in KNOWN_PLACEHOLDERS:
            violations.add(
                field_path,
                f"unknown placeholder {token} at offset {match.start()}; known: "
                + ", ".join("{" + p + "}" for p in sorted(KNOWN_PLACEHOLDERS)),
            )


def _join(values: Iterable[str]) -> str:
    return ", ".join(values)


def template_values(
    persona: PersonaFields, scenario: ScenarioFields | None, archetype: Archetype | None
) -> dict[str, str]:
    values = {
        "persona.name": persona.display_name,
        "persona.display_name": persona.display_name,
        "persona.role": persona.role,
        "persona.blueprint": persona.blueprint.value if persona.blueprint else "",
        "persona.difficulty": str(persona.difficulty),
        "persona.company_context": persona.company_context,
        "persona.personality_traits": _join(persona.personality_traits),
        "persona.communication_style": persona.communication_style,
        "persona.objection_patterns": "\n".join(f"- {o}" for o in persona.objection_patterns),
        "persona.description": persona.description,
        "persona.domains": _join(persona.domains),
        "persona.beliefs": "\n".join(f"- {b.text}" for b in persona.beliefs),
        "difficulty_instructions": difficulty_instructions(persona.difficulty),
        "archetype_guidance": archetype.voice_guidance if archetype else "",
    }
    scenario = scenario or ScenarioFields(display_name="")
    values.update({
        "scenario.name": scenario.display_name,
        "scenario.company_size": scenario.company_size,
        "scenario.industry": scenario.industry,
        "scenario.description": scenario.description,
        "scenario.pain_points": "\n".join(f"- {p}" for p in scenario.pain_points),
        "scenario.budget_range": scenario.budget_range,
        "scenario.decision_timeline": scenario.decision_timeline,
    })
    return values


def render(template: str, values: Mapping[str, str]) -> str:
    """Fills a checked template. Unknown placeholders cannot reach here: templates are checked on write."""

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        if match.group(1) is None:
            return token
        placeholder: str = match.group(1)
        return values.get(placeholder.strip(), token)

    return _TOKEN.sub(substitute, template)
