"""Proto messages to domain objects and back; names and enums are checked here, rules in the domain."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from google.protobuf import duration_pb2
from sparring.persona.v1 import persona_service_pb2 as pb

from calls import patch_fields
from calls.job_tracks import Blueprint
from calls.prompt_parts import Edit
from persona_svc.domain.model import (
    Archetype,
    Belief,
    ChangeKind,
    EmotionalStyle,
    HumorUsage,
    LanguageStyle,
    Mode,
    Persona,
    PersonaConfig,
    PersonaFields,
    PersonaVersion,
    Scenario,
    ScenarioFields,
    Trait,
    VariantFigures,
    VariantPromotion,
    VoiceSettings,
)
from persona_svc.domain.patches import CandidatePatch, PartChange, PatchSource, PatchTarget, PromptPart, PromptPatch
from svckit import names
from svckit.enums import enum_of
from svckit.errors import FieldViolation, InvalidArgument, Violations
from svckit.times import timestamp

# Proto field name -> domain field name, where they differ.
PERSONA_FIELD_NAMES = {"archetype": "archetype_id"}
PERSONA_OUTPUT_ONLY = frozenset({"name", "create_time", "update_time", "delete_time", "etag", "revision"})
PERSONA_WRITABLE = frozenset(
    f.name for f in pb.Persona.DESCRIPTOR.fields if f.name not in PERSONA_OUTPUT_ONLY
)
SCENARIO_OUTPUT_ONLY = frozenset({"name", "create_time", "update_time", "etag"})
SCENARIO_WRITABLE = frozenset(
    f.name for f in pb.Scenario.DESCRIPTOR.fields if f.name not in SCENARIO_OUTPUT_ONLY
)

DomainEnum = TypeVar("DomainEnum")


def _by_number(to_proto: Mapping[DomainEnum, int]) -> dict[int, DomainEnum]:
    return {number: value for value, number in to_proto.items()}


_BLUEPRINT_ENUMS: dict[Blueprint, pb.Blueprint.ValueType] = {b: getattr(pb, f"BLUEPRINT_{b.name}") for b in Blueprint}
_BLUEPRINTS = _by_number(_BLUEPRINT_ENUMS)
_HUMOR_ENUMS: dict[HumorUsage, pb.HumorUsage.ValueType] = {
    HumorUsage.UNSPECIFIED: pb.HUMOR_USAGE_UNSPECIFIED, HumorUsage.LOW: pb.HUMOR_USAGE_LOW,
    HumorUsage.MEDIUM: pb.HUMOR_USAGE_MEDIUM, HumorUsage.HIGH: pb.HUMOR_USAGE_HIGH}
_HUMOR = _by_number(_HUMOR_ENUMS)
_EMOTION_ENUMS: dict[EmotionalStyle, pb.EmotionalStyle.ValueType] = {
    EmotionalStyle.UNSPECIFIED: pb.EMOTIONAL_STYLE_UNSPECIFIED, EmotionalStyle.RESERVED: pb.EMOTIONAL_STYLE_RESERVED,
    EmotionalStyle.EXPRESSIVE: pb.EMOTIONAL_STYLE_EXPRESSIVE}
_EMOTION = _by_number(_EMOTION_ENUMS)
_LANGUAGE_ENUMS: dict[LanguageStyle, pb.LanguageStyle.ValueType] = {
    LanguageStyle.UNSPECIFIED: pb.LANGUAGE_STYLE_UNSPECIFIED, LanguageStyle.CONCISE: pb.LANGUAGE_STYLE_CONCISE,
    LanguageStyle.VERBOSE: pb.LANGUAGE_STYLE_VERBOSE}
_LANGUAGE = _by_number(_LANGUAGE_ENUMS)
_CHANGE_KINDS = {ChangeKind.CREATE: pb.CHANGE_KIND_CREATE, ChangeKind.UPDATE: pb.CHANGE_KIND_UPDATE,
                 ChangeKind.DELETE: pb.CHANGE_KIND_DELETE, ChangeKind.UNDELETE: pb.CHANGE_KIND_UNDELETE,
                 ChangeKind.ROLLBACK: pb.CHANGE_KIND_ROLLBACK,
                 ChangeKind.VARIANT_PROMOTION: pb.CHANGE_KIND_VARIANT_PROMOTION}
_PATCH_SOURCES = {PatchSource.LIVE: pb.PATCH_SOURCE_LIVE, PatchSource.UNAVAILABLE: pb.PATCH_SOURCE_UNAVAILABLE,
                  PatchSource.DISABLED: pb.PATCH_SOURCE_DISABLED,
                  PatchSource.LAST_KNOWN_GOOD: pb.PATCH_SOURCE_LAST_KNOWN_GOOD}


def blueprint_of(value: int, field: str) -> Blueprint | None:
    """None for BLUEPRINT_UNSPECIFIED (a filter not set, or a missing blueprint the domain reports)."""
    if value == pb.BLUEPRINT_UNSPECIFIED:
        return None
    return enum_of(_BLUEPRINTS, value, field, pb.Blueprint)


def blueprint_filter(value: int, field: str) -> str | None:
    """A blueprint a listing or search is narrowed to; None for no filter."""
    blueprint = blueprint_of(value, field)
    return blueprint.value if blueprint else None


resource_id = names.resource_id


_VERSION_NAME = re.compile(r"^personas/([^/]+)/versions/([0-9]{1,18})$")


def version_ref(name: str, field: str) -> tuple[str, int]:
    match = _VERSION_NAME.match(name)
    if match is None or not names.valid_id(match.group(1)):
        raise InvalidArgument(FieldViolation(
            field, f"must be a resource name like 'personas/{{id}}/versions/{{revision}}' (got {name[:100]!r})"))
    return match.group(1), int(match.group(2))


def archetype_id_of(name: str, field: str = "persona.archetype") -> str:
    return resource_id(name, "archetypes", field) if name else ""


def persona_fields(message: pb.Persona) -> PersonaFields:
    config = message.config
    return PersonaFields(
        slug=message.slug,
        display_name=message.display_name,
        role=message.role,
        blueprint=blueprint_of(message.blueprint, "persona.blueprint"),
        difficulty=message.difficulty,
        company_context=message.company_context,
        personality_traits=tuple(message.personality_traits),
        communication_style=message.communication_style,
        objection_patterns=tuple(message.objection_patterns),
        prompt_template=message.prompt_template,
        first_message_template=message.first_message_template,
        active=message.active,
        description=message.description,
        domains=tuple(message.domains),
        real_person=message.real_person,
        sources=tuple(message.sources),
        avatar_uri=message.avatar_uri,
        traits=tuple(Trait(t.name, t.value, t.trait_type) for t in message.traits),
        beliefs=tuple(Belief(b.text, b.source) for b in message.beliefs),
        modes=tuple(Mode(m.mode, m.enabled) for m in message.modes),
        config=PersonaConfig(
            humor_usage=enum_of(_HUMOR, config.humor_usage, "persona.config.humor_usage", pb.HumorUsage),
            emotional_style=enum_of(_EMOTION, config.emotional_style, "persona.config.emotional_style",
                                  pb.EmotionalStyle),
            voice_enabled=config.voice_enabled,
            language_style=enum_of(_LANGUAGE, config.language_style, "persona.config.language_style",
                                 pb.LanguageStyle),
            default_mode=config.default_mode,
            voice=voice_settings(config),
        ),
        archetype_id=archetype_id_of(message.archetype),
        protected=message.protected,
        owners=tuple(message.owners),
    )


_VOICE_NUMBERS = ("stability", "similarity_boost", "speed")


def voice_settings(config: pb.PersonaConfig) -> VoiceSettings:
    """The voice settings of a persona's configuration; a numeric setting not sent stays unset (None)."""
    return VoiceSettings(
        voice_id=config.voice_id, tts_model=config.tts_model, language=config.language,
        stability=config.stability if config.HasField("stability") else None,
        similarity_boost=config.similarity_boost if config.HasField("similarity_boost") else None,
        speed=config.speed if config.HasField("speed") else None)


def persona_message(persona: Persona) -> pb.Persona:
    f = persona.fields
    c = f.config
    return pb.Persona(
        name=persona.resource_name,
        slug=f.slug,
        display_name=f.display_name,
        role=f.role,
        blueprint=_BLUEPRINT_ENUMS[f.blueprint] if f.blueprint else pb.BLUEPRINT_UNSPECIFIED,
        difficulty=f.difficulty,
        company_context=f.company_context,
        personality_traits=f.personality_traits,
        communication_style=f.communication_style,
        objection_patterns=f.objection_patterns,
        prompt_template=f.prompt_template,
        first_message_template=f.first_message_template,
        active=f.active,
        description=f.description,
        domains=f.domains,
        real_person=f.real_person,
        sources=f.sources,
        avatar_uri=f.avatar_uri,
        traits=[pb.Trait(name=t.name, value=t.value, trait_type=t.trait_type) for t in f.traits],
        beliefs=[pb.Belief(text=b.text, source=b.source) for b in f.beliefs],
        modes=[pb.Mode(mode=m.mode, enabled=m.enabled) for m in f.modes],
        config=pb.PersonaConfig(
            humor_usage=_HUMOR_ENUMS[c.humor_usage],
            emotional_style=_EMOTION_ENUMS[c.emotional_style],
            voice_enabled=c.voice_enabled,
            language_style=_LANGUAGE_ENUMS[c.language_style],
            default_mode=c.default_mode,
            voice_id=c.voice.voice_id,
            tts_model=c.voice.tts_model,
            language=c.voice.language,
            **{name: getattr(c.voice, name) for name in _VOICE_NUMBERS if getattr(c.voice, name) is not None},
        ),
        archetype=f"archetypes/{f.archetype_id}" if f.archetype_id else "",
        protected=f.protected,
        owners=f.owners,
        create_time=timestamp(persona.create_time),
        update_time=timestamp(persona.update_time),
        delete_time=timestamp(persona.delete_time),
        etag=persona.etag,
        revision=persona.revision,
    )


def version_message(version: PersonaVersion) -> pb.PersonaVersion:
    return pb.PersonaVersion(
        name=f"personas/{version.persona_id}/versions/{version.revision}",
        revision=version.revision,
        change_kind=_CHANGE_KINDS[version.change_kind],
        restored_revision=version.restored_revision,
        snapshot=persona_message(version.snapshot),
        create_time=timestamp(version.create_time),
        promotion=promotion_message(version.promotion) if version.promotion else None,
    )


def promotion_message(promotion: VariantPromotion) -> pb.VariantPromotion:
    return pb.VariantPromotion(
        experiment=promotion.experiment, winner_variant=promotion.winner_variant,
        control_variant=promotion.control_variant, metric=promotion.metric,
        figures=[pb.VariantFigures(variant_id=f.variant_id, samples=f.samples, mean=f.mean, effect=f.effect,
                                   p_value=f.p_value) for f in promotion.figures],
        patches=list(promotion.patches))


MAX_PROMOTION_FIGURES, MAX_PROMOTION_PATCHES = 10, 50


def variant_promotion(message: pb.VariantPromotion) -> VariantPromotion:
    """The provenance of a promotion, every bad field named at once."""
    v = Violations()
    if not message.experiment.startswith("experiments/") or not names.valid_id(
            message.experiment.removeprefix("experiments/")):
        v.add("promotion.experiment", f"must be a resource name like 'experiments/{{id}}' "
                                      f"(got {message.experiment[:100]!r})")
    for field in ("winner_variant", "control_variant"):
        value = getattr(message, field)
        v.require(bool(value) and names.valid_id(value), f"promotion.{field}",
                  "is required: lowercase letters, digits and dashes, at most 63")
    v.require(len(message.metric) <= 100, "promotion.metric", "must be at most 100 characters")
    v.require(len(message.figures) <= MAX_PROMOTION_FIGURES, "promotion.figures",
              f"at most {MAX_PROMOTION_FIGURES} (got {len(message.figures)})")
    v.require(len(message.patches) <= MAX_PROMOTION_PATCHES, "promotion.patches",
              f"at most {MAX_PROMOTION_PATCHES} (got {len(message.patches)})")
    for index, patch in enumerate(message.patches):
        v.require(patch.startswith("patches/") and names.valid_id(patch.removeprefix("patches/")),
                  f"promotion.patches[{index}]", f"must be a resource name like 'patches/{{id}}' (got {patch[:100]!r})")
    v.raise_if_any()
    return VariantPromotion(
        experiment=message.experiment, winner_variant=message.winner_variant,
        control_variant=message.control_variant, metric=message.metric,
        figures=tuple(VariantFigures(f.variant_id, f.samples, f.mean, f.effect, f.p_value) for f in message.figures),
        patches=tuple(message.patches))


def scenario_fields(message: pb.Scenario) -> ScenarioFields:
    return ScenarioFields(
        display_name=message.display_name,
        company_size=message.company_size,
        industry=message.industry,
        description=message.description,
        pain_points=tuple(message.pain_points),
        budget_range=message.budget_range,
        decision_timeline=message.decision_timeline,
    )


def scenario_message(scenario: Scenario) -> pb.Scenario:
    f = scenario.fields
    return pb.Scenario(
        name=scenario.resource_name,
        display_name=f.display_name,
        company_size=f.company_size,
        industry=f.industry,
        description=f.description,
        pain_points=f.pain_points,
        budget_range=f.budget_range,
        decision_timeline=f.decision_timeline,
        create_time=timestamp(scenario.create_time),
        update_time=timestamp(scenario.update_time),
        etag=scenario.etag,
    )


def archetype_of(message: pb.Archetype, archetype_id: str) -> Archetype:
    return Archetype(id=archetype_id, display_name=message.display_name, description=message.description,
                     voice_guidance=message.voice_guidance)


def archetype_message(archetype: Archetype) -> pb.Archetype:
    return pb.Archetype(
        name=archetype.resource_name,
        display_name=archetype.display_name,
        description=archetype.description,
        voice_guidance=archetype.voice_guidance,
        create_time=timestamp(archetype.create_time),
    )


def patch_source(source: PatchSource) -> pb.PatchSource.ValueType:
    return _PATCH_SOURCES[source]


def age(since: datetime | None) -> duration_pb2.Duration | None:
    """How long ago ``since`` was, as a Duration (never negative across clocks); None without a time."""
    if since is None:
        return None
    elapsed = duration_pb2.Duration()
    elapsed.FromTimedelta(max(timedelta(0), datetime.now(UTC) - since))
    return elapsed


# --- candidate patches -----------------------------------------------------------------------------

MAX_CANDIDATE_PATCHES = 10
_MAX_CANDIDATE_NAME = 200
_TARGETS = {pb.PATCH_TARGET_VOICE_PROMPT: PatchTarget.VOICE_PROMPT, pb.PATCH_TARGET_SYSTEM_PROMPT:
            PatchTarget.SYSTEM_PROMPT, pb.PATCH_TARGET_ELEMENTAL_BEHAVIOR: PatchTarget.ELEMENTAL_BEHAVIOR}
_PARTS = {getattr(pb, f"PROMPT_PART_{part.name}"): part for part in PromptPart}
_EDITS = {getattr(pb, f"PART_EDIT_{edit.name}"): edit for edit in Edit}


# A persona is rendered with at most 50 patches of its archetype and targets, and its few learned modules.
MAX_WITHHELD_PATCHES = 60
_WITHHELD_NAME = re.compile(r"patches/[\w.-]{1,192}")


def withheld_patches(names: Sequence[str]) -> list[str]:
    """The request's withheld patches: names of published patches, each once (whether this rendering applies them is
    the domain's check)."""
    if len(names) > MAX_WITHHELD_PATCHES:
        raise InvalidArgument(FieldViolation("withheld_patches", f"must hold at most {MAX_WITHHELD_PATCHES} "
                                                                 f"(got {len(names)})"))
    v = Violations()
    for index, name in enumerate(names):
        field = f"withheld_patches[{index}]"
        if not _WITHHELD_NAME.fullmatch(name):
            v.add(field, f"must be a patch's name as applied_patches gives it, 'patches/{{id}}' (got {name[:100]!r})")
        elif name in names[:index]:
            v.add(field, f"names {name} a second time")
    v.raise_if_any()
    return list(names)


def candidate_patches(messages: Sequence[pb.CandidatePatch]) -> list[CandidatePatch]:
    """The request's candidate patches, each checked as the learning service's CreatePromptPatch checks a patch;
    every violation named under ``candidate_patches[i]``."""
    if len(messages) > MAX_CANDIDATE_PATCHES:
        raise InvalidArgument(FieldViolation("candidate_patches", f"must hold at most {MAX_CANDIDATE_PATCHES} "
                                                                  f"(got {len(messages)})"))
    candidates, violations = [], []
    for index, message in enumerate(messages):
        try:
            candidates.append(_candidate(message, f"candidate_patches[{index}]"))
        except InvalidArgument as refused:
            violations += refused.violations
    if violations:
        raise InvalidArgument(violations)
    return candidates


def _candidate(message: pb.CandidatePatch, field: str) -> CandidatePatch:
    v = Violations()
    v.require(0 < len(message.name.strip()) <= _MAX_CANDIDATE_NAME, f"{field}.name",
              f"is required, at most {_MAX_CANDIDATE_NAME} characters")
    target = _TARGETS.get(message.target)
    v.require(target is not None, f"{field}.target", f"must be one of {', '.join(pb.PatchTarget.keys()[1:])}")
    v.require(message.operation in pb.PatchOperation.values()[1:], f"{field}.operation",
              f"must be one of {', '.join(pb.PatchOperation.keys()[1:])}")
    fields = patch_fields.patch_fields(message)
    part = edit = None
    if fields.structured:
        part, edit = _PARTS.get(message.part), _EDITS.get(message.edit)
        v.require(part is not None, f"{field}.part", f"must be one of {', '.join(pb.PromptPart.keys()[1:])}")
        v.require(edit is not None, f"{field}.edit", f"must be one of {', '.join(pb.PartEdit.keys()[1:])}")
    for name, description in patch_fields.violations(fields, names.valid_id):
        v.add(f"{field}.{name}", description)
    v.raise_if_any()
    assert target is not None
    change = None
    if part is not None and edit is not None:
        change = PartChange(part, edit, message.find_text.strip(), message.text.strip(),
                            fields.words if part is PromptPart.LENGTH_RANGE else None,
                            *(fields.scope or ("", 0, 0)))
    return CandidatePatch(PromptPatch(message.name.strip(), target, message.text.strip(), change, candidate=True),
                          message.archetype.removeprefix("archetypes/"), field)
