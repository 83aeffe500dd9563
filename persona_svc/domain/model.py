"""Personas, scenarios and archetypes as plain data, with the rules they obey."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from calls.job_tracks import Blueprint
from svckit import records
from svckit.errors import FieldViolation, InvalidArgument, Violations
from svckit.names import check_resource_id


class HumorUsage(StrEnum):
    UNSPECIFIED = ""
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class EmotionalStyle(StrEnum):
    UNSPECIFIED = ""
    RESERVED = "reserved"
    EXPRESSIVE = "expressive"


class LanguageStyle(StrEnum):
    UNSPECIFIED = ""
    CONCISE = "concise"
    VERBOSE = "verbose"


class ChangeKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    UNDELETE = "undelete"
    ROLLBACK = "rollback"
    VARIANT_PROMOTION = "variant_promotion"


MIN_DIFFICULTY, MAX_DIFFICULTY = 1, 5
MAX_SHORT_TEXT = 200
MAX_LONG_TEXT = 20_000
MAX_LIST_ITEMS = 50
MAX_OWNERS = 20
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_VOICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_TTS_MODEL = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_LANGUAGE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")
# (least, most) of each numeric voice setting, in the order VoiceSettings declares them; the providers refuse
# values outside them.
VOICE_RANGES = {"stability": (0.0, 1.0), "similarity_boost": (0.0, 1.0), "speed": (0.7, 1.2)}
DEFAULT_VOICE_VALUES = {"stability": 0.5, "similarity_boost": 0.75, "speed": 1.0}


@dataclass(frozen=True, slots=True)
class Trait:
    name: str
    value: float
    trait_type: str = ""


@dataclass(frozen=True, slots=True)
class Belief:
    text: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class Mode:
    mode: str
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class VoiceSettings:
    """How the persona sounds at a voice provider; what is left unset (empty, None) takes the default below."""

    voice_id: str = ""
    tts_model: str = ""
    language: str = ""
    stability: float | None = None
    similarity_boost: float | None = None
    speed: float | None = None

    def with_defaults(self) -> VoiceSettings:
        """Every setting explicit, as an agent is configured with them."""
        return VoiceSettings(self.voice_id, self.tts_model, self.language or DEFAULT_VOICE.language,
                             *(DEFAULT_VOICE_VALUES[name] if getattr(self, name) is None else getattr(self, name)
                               for name in VOICE_RANGES))


DEFAULT_VOICE = VoiceSettings(language="en")


@dataclass(frozen=True, slots=True)
class PersonaConfig:
    humor_usage: HumorUsage = HumorUsage.UNSPECIFIED
    emotional_style: EmotionalStyle = EmotionalStyle.UNSPECIFIED
    voice_enabled: bool = False
    language_style: LanguageStyle = LanguageStyle.UNSPECIFIED
    default_mode: str = ""
    voice: VoiceSettings = field(default_factory=VoiceSettings)


@dataclass(frozen=True, slots=True)
class PersonaFields:
    """Everything a caller writes about a persona."""

    slug: str
    display_name: str
    role: str
    blueprint: Blueprint | None
    difficulty: int
    company_context: str = ""
    personality_traits: tuple[str, ...] = ()
    communication_style: str = ""
    objection_patterns: tuple[str, ...] = ()
    prompt_template: str = ""
    first_message_template: str = ""
    active: bool = True
    description: str = ""
    domains: tuple[str, ...] = ()
    real_person: bool = False
    sources: tuple[str, ...] = ()
    avatar_uri: str = ""
    traits: tuple[Trait, ...] = ()
    beliefs: tuple[Belief, ...] = ()
    modes: tuple[Mode, ...] = ()
    config: PersonaConfig = field(default_factory=PersonaConfig)
    archetype_id: str = ""
    protected: bool = False
    # Subjects who may change the persona besides the organization's admins; versions record them too.
    owners: tuple[str, ...] = ()

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = records.to_record(self)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> PersonaFields:
        return records.from_record(cls, record)


WRITABLE_PERSONA_FIELDS = frozenset(f.name for f in dataclasses.fields(PersonaFields))


@dataclass(frozen=True, slots=True)
class Persona:
    id: str
    fields: PersonaFields
    revision: int
    create_time: datetime
    update_time: datetime
    delete_time: datetime | None = None

    @property
    def resource_name(self) -> str:
        return persona_name(self.id)

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'

    @property
    def deleted(self) -> bool:
        return self.delete_time is not None

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = records.to_record(self)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Persona:
        return records.from_record(cls, record)


@dataclass(frozen=True, slots=True)
class VariantFigures:
    variant_id: str
    samples: int
    mean: float
    effect: float
    p_value: float


@dataclass(frozen=True, slots=True)
class VariantPromotion:
    """An experiment of the learning service that promoted a variant of the persona, and on what figures."""

    experiment: str  # "experiments/{id}"
    winner_variant: str
    control_variant: str
    metric: str
    figures: tuple[VariantFigures, ...]
    patches: tuple[str, ...]  # the persona's patches carrying the winner's modifications


@dataclass(frozen=True, slots=True)
class PersonaVersion:
    persona_id: str
    revision: int
    change_kind: ChangeKind
    restored_revision: int
    snapshot: Persona
    create_time: datetime
    promotion: VariantPromotion | None = None


@dataclass(frozen=True)
class PersonaFilter:
    """Which personas a listing returns; None is no condition."""

    blueprint: str | None = None
    min_difficulty: int | None = None
    max_difficulty: int | None = None
    archetype_id: str | None = None
    domain: str | None = None
    active: bool | None = None
    show_deleted: bool = False


@dataclass(frozen=True)
class SearchHit:
    persona: Persona
    relevance: float


@dataclass(frozen=True, slots=True)
class ScenarioFields:
    display_name: str
    company_size: str = ""
    industry: str = ""
    description: str = ""
    pain_points: tuple[str, ...] = ()
    budget_range: str = ""
    decision_timeline: str = ""


@dataclass(frozen=True, slots=True)
class Scenario:
    id: str
    fields: ScenarioFields
    revision: int
    create_time: datetime
    update_time: datetime
    # Who created it: besides the organization's admins, the one who may change or delete it.
    creator: str = ""

    @property
    def resource_name(self) -> str:
        return f"scenarios/{self.id}"

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'


@dataclass(frozen=True, slots=True)
class Archetype:
    id: str
    display_name: str
    description: str = ""
    voice_guidance: str = ""
    create_time: datetime | None = None

    @property
    def resource_name(self) -> str:
        return f"archetypes/{self.id}"


def persona_name(persona_id: str) -> str:
    return f"personas/{persona_id}"


def _check_text(violations: Violations, path: str, value: str, limit: int, required: bool = False) -> None:
    if required and not value.strip():
        violations.add(path, "is required and must not be blank")
    elif len(value) > limit:
        violations.add(path, f"must be at most {limit} characters (got {len(value)})")
    elif "\x00" in value:
        # PostgreSQL stores no NUL in text or jsonb; refuse it here rather than fail in the database.
        violations.add(path, "must not contain NUL characters")


def _check_list(violations: Violations, path: str, values: tuple[str, ...], limit: int = MAX_SHORT_TEXT) -> None:
    if len(values) > MAX_LIST_ITEMS:
        violations.add(path, f"must have at most {MAX_LIST_ITEMS} items (got {len(values)})")
    for index, value in enumerate(values):
        _check_text(violations, f"{path}[{index}]", value, limit, required=True)


def validate_persona_fields(fields: PersonaFields, violations: Violations, prefix: str = "persona") -> None:
    """Rules that hold for any persona, whoever writes it. Templates are checked separately."""
    check_resource_id(violations, f"{prefix}.slug", fields.slug)
    _check_text(violations, f"{prefix}.display_name", fields.display_name, MAX_SHORT_TEXT, required=True)
    _check_text(violations, f"{prefix}.role", fields.role, MAX_SHORT_TEXT, required=True)
    if fields.blueprint is None:
        violations.add(
            f"{prefix}.blueprint",
            "is required: one of " + ", ".join(f"BLUEPRINT_{b.name}" for b in Blueprint),
        )
    if not MIN_DIFFICULTY <= fields.difficulty <= MAX_DIFFICULTY:
        violations.add(
            f"{prefix}.difficulty", f"must be between {MIN_DIFFICULTY} and {MAX_DIFFICULTY} (got {fields.difficulty})"
        )
    for path, value in (
        ("company_context", fields.company_context),
        ("communication_style", fields.communication_style),
        ("description", fields.description),
        ("prompt_template", fields.prompt_template),
        ("first_message_template", fields.first_message_template),
    ):
        _check_text(violations, f"{prefix}.{path}", value, MAX_LONG_TEXT)
    _check_text(violations, f"{prefix}.avatar_uri", fields.avatar_uri, 2048)
    if fields.avatar_uri and not re.match(r"^https?://\S+$", fields.avatar_uri):
        violations.add(f"{prefix}.avatar_uri", "must be an http(s) URL")
    _check_list(violations, f"{prefix}.personality_traits", fields.personality_traits)
    _check_list(violations, f"{prefix}.objection_patterns", fields.objection_patterns, MAX_LONG_TEXT)
    _check_list(violations, f"{prefix}.domains", fields.domains)
    _check_list(violations, f"{prefix}.sources", fields.sources, 2048)
    seen_traits: set[str] = set()
    for index, trait in enumerate(fields.traits):
        path = f"{prefix}.traits[{index}]"
        _check_text(violations, f"{path}.name", trait.name, MAX_SHORT_TEXT, required=True)
        _check_text(violations, f"{path}.trait_type", trait.trait_type, MAX_SHORT_TEXT)
        if not 0.0 <= trait.value <= 1.0:
            violations.add(f"{path}.value", f"must be between 0.0 and 1.0 (got {trait.value:g})")
        if trait.name in seen_traits:
            violations.add(f"{path}.name", f"trait {trait.name!r} is given twice")
        seen_traits.add(trait.name)
    for index, belief in enumerate(fields.beliefs):
        _check_text(violations, f"{prefix}.beliefs[{index}].text", belief.text, MAX_LONG_TEXT, required=True)
        _check_text(violations, f"{prefix}.beliefs[{index}].source", belief.source, 2048)
    for index, mode in enumerate(fields.modes):
        _check_text(violations, f"{prefix}.modes[{index}].mode", mode.mode, MAX_SHORT_TEXT, required=True)
    validate_voice(fields.config.voice, violations, f"{prefix}.config")
    enabled_modes = {m.mode for m in fields.modes if m.enabled}
    if fields.config.default_mode and fields.config.default_mode not in enabled_modes:
        violations.add(
            f"{prefix}.config.default_mode",
            f"{fields.config.default_mode!r} is not one of the persona's enabled modes",
        )


def validate_voice(voice: VoiceSettings, violations: Violations, prefix: str) -> None:
    if voice.voice_id and not _VOICE_ID.match(voice.voice_id):
        violations.add(f"{prefix}.voice_id", "must be 1 to 100 letters, digits, dashes and underscores")
    if voice.tts_model and not _TTS_MODEL.match(voice.tts_model):
        violations.add(f"{prefix}.tts_model", "must be 1 to 100 letters, digits, dashes, dots and underscores")
    if voice.language and not _LANGUAGE.match(voice.language):
        violations.add(f"{prefix}.language", f"must be an ISO 639-1 code such as 'en' or 'pt-BR' "
                                             f"(got {voice.language[:20]!r})")
    for name, (least, most) in VOICE_RANGES.items():
        value = getattr(voice, name)
        # NaN fails both comparisons, so it is refused too.
        if value is not None and not least <= value <= most:
            violations.add(f"{prefix}.{name}", f"must be between {least:g} and {most:g} (got {value:g})")


def validate_owners(owners: tuple[str, ...], violations: Violations, path: str = "persona.owners") -> None:
    """A persona keeps 1 to MAX_OWNERS distinct owners, each a subject of at most MAX_SHORT_TEXT characters."""
    if not 1 <= len(owners) <= MAX_OWNERS:
        violations.add(path, f"must name 1 to {MAX_OWNERS} owners (got {len(owners)})")
    seen: set[str] = set()
    for index, owner in enumerate(owners):
        if not owner or len(owner) > MAX_SHORT_TEXT:
            violations.add(f"{path}[{index}]", f"must be 1 to {MAX_SHORT_TEXT} characters (got {len(owner)})")
        elif _CONTROL_CHARACTERS.search(owner):
            violations.add(f"{path}[{index}]", "must not contain control characters")
        elif owner in seen:
            violations.add(f"{path}[{index}]", f"owner {owner!r} is given twice")
        seen.add(owner)


def check_persona_filter(where: PersonaFilter) -> None:
    """A listing's bounds must be difficulties, in order; text compared in PostgreSQL cannot hold NUL."""
    for field_name, bound in (("min_difficulty", where.min_difficulty), ("max_difficulty", where.max_difficulty)):
        if bound is not None and not MIN_DIFFICULTY <= bound <= MAX_DIFFICULTY:
            raise InvalidArgument(FieldViolation(
                field_name, f"must be {MIN_DIFFICULTY} to {MAX_DIFFICULTY}, or 0 for no bound (got {bound})"))
    if where.min_difficulty and where.max_difficulty and where.min_difficulty > where.max_difficulty:
        raise InvalidArgument(FieldViolation("min_difficulty", "must not be above max_difficulty"))
    check_filter_text("domain", where.domain or "")


def check_filter_text(field_name: str, value: str) -> None:
    # PostgreSQL cannot compare text holding NUL; such a filter is bad input, not a server error.
    if "\x00" in value:
        raise InvalidArgument(FieldViolation(field_name, "must not contain NUL characters"))


def validate_scenario_fields(fields: ScenarioFields, violations: Violations, prefix: str = "scenario") -> None:
    _check_text(violations, f"{prefix}.display_name", fields.display_name, MAX_SHORT_TEXT, required=True)
    for path in ("company_size", "industry", "budget_range", "decision_timeline"):
        _check_text(violations, f"{prefix}.{path}", getattr(fields, path), MAX_SHORT_TEXT)
    _check_text(violations, f"{prefix}.description", fields.description, MAX_LONG_TEXT)
    _check_list(violations, f"{prefix}.pain_points", fields.pain_points, MAX_LONG_TEXT)


def validate_archetype(archetype: Archetype, violations: Violations) -> None:
    check_resource_id(violations, "archetype_id", archetype.id)
    _check_text(violations, "archetype.display_name", archetype.display_name, MAX_SHORT_TEXT, required=True)
    _check_text(violations, "archetype.description", archetype.description, MAX_LONG_TEXT)
    _check_text(violations, "archetype.voice_guidance", archetype.voice_guidance, MAX_LONG_TEXT)
