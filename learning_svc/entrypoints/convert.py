"""Requests checked and turned into domain values; domain values and documents turned into messages.

Domain values and stored documents carry the contract's field and enum names, so one ``message`` call
turns any of them into its proto."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.message import Message
from sparring.learning.v1 import learning_service_pb2 as pb

from calls import patch_fields
from calls.persona_audit import MAX_FLAGGED_QUOTES, MAX_QUOTE_CHARS, MAX_RECOMMENDATIONS, WordRange
from learning_svc.domain.evolution import Engine
from learning_svc.domain.patches import (
    PartEdit,
    PatchChange,
    PatchOperation,
    PatchScope,
    PatchTarget,
    PromptPart,
)
from learning_svc.service_layer.evolution import STAGES
from learning_svc.service_layer.experiments import SessionVariant
from svckit import names
from svckit.errors import FieldViolation, InvalidArgument, Violations
from svckit.records import to_record
from svckit.times import time_of

TRACE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,200}$")
MAX_NOTE_CHARS = 500
MAX_MOTIVATION_CHARS = 2000
M = TypeVar("M", bound=Message)


def message(message_type: type[M], value: object) -> M:
    """A domain value (dataclass) or a stored document (dict) as its proto message."""
    record = value if isinstance(value, dict) else to_record(value)
    return json_format.ParseDict(record, message_type(), ignore_unknown_fields=True)


def document(msg: Message) -> dict[str, Any]:
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


V = TypeVar("V", bound=int, contravariant=True)
E = TypeVar("E", bound=StrEnum)


class ProtoEnum(Protocol[V]):
    """A generated proto enum type: its names by number."""

    @property
    def DESCRIPTOR(self) -> EnumDescriptor: ...

    def Name(self, number: V) -> str: ...


def enum_name(enum_type: ProtoEnum[V], value: V, field: str) -> str:
    """The proto name of a required enum value in a request."""
    if value == 0:
        raise InvalidArgument(FieldViolation(field, "is required"))
    try:
        return enum_type.Name(value)
    except ValueError:
        raise InvalidArgument(FieldViolation(field, f"{value} is not a known {enum_type.DESCRIPTOR.name}")) from None


def optional_enum_name(enum_type: ProtoEnum[V], value: V, field: str) -> str | None:
    """The proto name of an optional enum value in a request; None when unset."""
    return enum_name(enum_type, value, field) if value != 0 else None


def optional_name(value: str, collection: str, field: str) -> str:
    """An optional reference: empty, or a valid ``{collection}/{id}``."""
    if value:
        names.resource_id(value, collection, field)
    return value


def scope_filter(request: Message, field: str, collection: str, all_field: str) -> str | None:
    """A List's scope filter: one named scope, the all-scope ("", as runs and patches store it) when
    ``all_field`` is set, or None for any scope."""
    value: str = getattr(request, field)
    if getattr(request, all_field):
        if value:
            raise InvalidArgument(FieldViolation(all_field, f"cannot be combined with {field}"))
        return ""
    if not value:
        return None
    names.resource_id(value, collection, field)
    return value


def check_note(violations: Violations, value: str, field: str, limit: int = MAX_NOTE_CHARS) -> None:
    violations.require(len(value) <= limit, field, f"must be at most {limit} characters (got {len(value)})")


def _check_range(violations: Violations, value: float, low: float, high: float, field: str) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        violations.add(field, f"must be between {low:g} and {high:g} (got {value!r})")


# --- audits ----------------------------------------------------------------------------------------


def audit_document(audit: pb.CorpusAudit) -> tuple[str, dict[str, Any]]:
    """The id of the audit's source and the audit as stored; every bad field named at once."""
    v = Violations()
    source_id = ""
    if not audit.source_audit:
        v.add("audit.source_audit", "is required")
    else:
        try:
            source_id = names.resource_id(audit.source_audit, "audits", "audit.source_audit")
        except InvalidArgument as error:
            v.add("audit.source_audit", error.violations[0].description)
    for field, collection, required in (("session", "sessions", True), ("persona", "personas", True),
                                        ("archetype", "archetypes", False)):
        value = getattr(audit, field)
        if not value:
            v.require(not required, f"audit.{field}", "is required")
        elif not (value.startswith(f"{collection}/") and names.valid_id(value.removeprefix(f"{collection}/"))):
            v.add(f"audit.{field}", f"must be a resource name like '{collection}/{{id}}' (got {value[:100]!r})")
    v.require(1 <= audit.difficulty <= 5, "audit.difficulty", f"must be between 1 and 5 (got {audit.difficulty})")
    for field in ("brevity", "authenticity", "consistency", "enthusiasm_leak", "pacing"):
        score = getattr(audit.scores, field)
        v.require(1 <= score <= 10, f"audit.scores.{field}", f"must be between 1 and 10 (got {score})")
    _check_range(v, audit.overall_score, 1.0, 10.0, "audit.overall_score")
    if audit.HasField("final_say_meter_score"):
        v.require(0 <= audit.final_say_meter_score <= 100, "audit.final_say_meter_score",
                  f"must be between 0 and 100 (got {audit.final_say_meter_score})")
    v.require(math.isfinite(audit.avg_words_per_turn) and audit.avg_words_per_turn >= 0, "audit.avg_words_per_turn",
              "must be 0 or more")
    v.require(audit.persona_turn_count >= 0, "audit.persona_turn_count", "must be 0 or more")
    v.require(len(audit.flagged_quotes) <= MAX_FLAGGED_QUOTES, "audit.flagged_quotes",
              f"at most {MAX_FLAGGED_QUOTES} (got {len(audit.flagged_quotes)})")
    for index, quote in enumerate(audit.flagged_quotes):
        check_note(v, quote.text, f"audit.flagged_quotes[{index}].text", MAX_QUOTE_CHARS)
    v.require(len(audit.recommendations) <= MAX_RECOMMENDATIONS, "audit.recommendations",
              f"at most {MAX_RECOMMENDATIONS} (got {len(audit.recommendations)})")
    for index, recommendation in enumerate(audit.recommendations):
        check_note(v, recommendation, f"audit.recommendations[{index}]", 1000)
    if not audit.HasField("audit_time"):
        v.add("audit.audit_time", "is required")
    else:
        time_of(audit.audit_time, "audit.audit_time", v)
    v.raise_if_any()
    stored = pb.CorpusAudit()
    stored.CopyFrom(audit)
    stored.ClearField("name")
    stored.ClearField("record_time")
    return source_id, document(stored)


# --- patches ---------------------------------------------------------------------------------------


def patch_change(patch: pb.PromptPatch) -> PatchChange:
    v = Violations()
    target = _decoded(PatchTarget, pb.PatchTarget, patch.target, "patch.target", v)
    operation = _decoded(PatchOperation, pb.PatchOperation, patch.operation, "patch.operation", v)
    fields = patch_fields.patch_fields(patch)
    part = edit = None
    if fields.structured:
        part = _decoded(PromptPart, pb.PromptPart, patch.part, "patch.part", v)
        edit = _decoded(PartEdit, pb.PartEdit, patch.edit, "patch.edit", v)
    for field, description in patch_fields.violations(fields, names.valid_id):
        v.add(f"patch.{field}", description)
    check_note(v, patch.motivation, "patch.motivation", MAX_MOTIVATION_CHARS)
    v.raise_if_any()
    assert target is not None and operation is not None
    scope = PatchScope(patch.scope.persona, patch.scope.min_difficulty, patch.scope.max_difficulty) \
        if fields.structured else None
    words = WordRange(*fields.words) if fields.length_range and fields.words else None
    return PatchChange(patch.archetype, target, operation, patch.text.strip(), patch.phrase.strip(), words, part, edit,
                       patch.find_text.strip(), scope)


def variant_modification(modification: pb.PromptPatch, variant_persona: str, where: str) -> PatchChange:
    """A variant's modification as a structured patch of the variant's persona alone, checked like
    CreatePromptPatch's; its violations name the field under ``where``."""
    with fields_under(where):
        v = Violations()
        v.require(modification.operation == pb.PATCH_OPERATION_EDIT_PART, "patch.operation",
                  "must be PATCH_OPERATION_EDIT_PART: a variant edits named parts of what its persona is told")
        v.require(not modification.archetype, "patch.archetype", "must be empty: the variant's persona decides it")
        v.require(not modification.HasField("scope"), "patch.scope",
                  "must be empty: a modification reaches the variant's persona only")
        v.raise_if_any()
        scoped = pb.PromptPatch()
        scoped.CopyFrom(modification)
        scoped.scope.persona = variant_persona
        return patch_change(scoped)


def variant_patch(modification: dict[str, Any], played: SessionVariant, persona: str, index: int) -> pb.PromptPatch:
    """A stored modification of the variant a session plays, as the patch the persona service applies."""
    patch = json_format.ParseDict(modification, pb.PromptPatch())
    experiment_id = played.experiment.removeprefix("experiments/")
    patch.name = f"patches/experiment-{experiment_id}-{played.variant_id}-{index}"
    patch.state, patch.origin = pb.PATCH_STATE_ACTIVE, pb.PATCH_ORIGIN_EXPERIMENT_VARIANT
    patch.scope.persona = persona
    patch.motivation = f"variant {played.variant_id} of {played.experiment}"
    return patch


@contextmanager
def fields_under(where: str) -> Iterator[None]:
    """Renames the ``patch.`` fields of a refusal raised inside to fields under ``where``."""
    try:
        yield
    except InvalidArgument as error:
        raise InvalidArgument([FieldViolation(where + v.field.removeprefix("patch"), v.description)
                               for v in error.violations], reason=error.reason) from error


def _decoded(domain_enum: type[E], enum_type: ProtoEnum[V], value: V, field: str, v: Violations) -> E | None:
    """A required enum of the request as the domain names it; None, with the violation added, when unset or
    unknown."""
    try:
        return domain_enum(enum_name(enum_type, value, field))
    except InvalidArgument as error:
        v.add(field, error.violations[0].description)
        return None


# --- feedback --------------------------------------------------------------------------------------


def feedback_document(feedback: pb.Feedback) -> dict[str, Any]:
    v = Violations()
    v.require(TRACE_ID.match(feedback.trace_id) is not None, "feedback.trace_id",
              "is required: 1 to 200 letters, digits and '.-_:'")
    _check_range(v, feedback.score, -1.0, 1.0, "feedback.score")
    check_note(v, feedback.reason, "feedback.reason", 100)
    check_note(v, feedback.comment, "feedback.comment", 2000)
    check_note(v, feedback.intent_label, "feedback.intent_label", 100)
    if not feedback.persona:
        v.add("feedback.persona", "is required")
    elif not (feedback.persona.startswith("personas/") and names.valid_id(feedback.persona[len("personas/"):])):
        v.add("feedback.persona", f"must be a resource name like 'personas/{{id}}' (got {feedback.persona[:100]!r})")
    if feedback.session and not (feedback.session.startswith("sessions/")
                                 and names.valid_id(feedback.session[len("sessions/"):])):
        v.add("feedback.session", f"must be empty or like 'sessions/{{id}}' (got {feedback.session[:100]!r})")
    v.raise_if_any()
    return {"trace_id": feedback.trace_id, "score": feedback.score, "reason": feedback.reason,
            "comment": feedback.comment, "persona": feedback.persona, "intent_label": feedback.intent_label,
            "session": feedback.session}


def trace_id_of(name: str) -> str:
    trace_id = name.removeprefix("feedback/")
    if not name.startswith("feedback/") or TRACE_ID.match(trace_id) is None:
        raise InvalidArgument(FieldViolation("name", f"must be like 'feedback/{{trace_id}}' (got {name[:100]!r})"))
    return trace_id


# --- runs ------------------------------------------------------------------------------------------

_OPTION_RANGES = {"audit_limit": (1, 5000), "min_audits": (1, 1000), "simulated_calls": (1, 40),
                  "max_refinements": (1, 20)}


def evolution_options(options: pb.EvolutionOptions, field_path: str) -> dict[str, Any]:
    v = Violations()
    for field, (low, high) in _OPTION_RANGES.items():
        value = getattr(options, field)
        v.require(value == 0 or low <= value <= high, f"{field_path}.{field}",
                  f"must be 0 (the default) or {low} to {high} (got {value})")
    if options.HasField("min_score_gain"):
        _check_range(v, options.min_score_gain, 0.0, 9.0, f"{field_path}.min_score_gain")
    v.raise_if_any()
    engine = engine_of(options.engine, f"{field_path}.engine")
    record = {field: getattr(options, field) for field in _OPTION_RANGES}
    if options.HasField("min_score_gain"):
        record["min_score_gain"] = options.min_score_gain
    return {**record, "auto_apply": options.auto_apply, "engine": engine or Engine.LOCAL,
            "scenario": optional_name(options.scenario, "scenarios", f"{field_path}.scenario")}


_ENGINES = {Engine.LOCAL: pb.ENGINE_LOCAL, Engine.OPENAI: pb.ENGINE_OPENAI}


def engine_of(value: pb.Engine.ValueType, field: str) -> Engine | None:
    """The engine a request names; None when unset."""
    if optional_enum_name(pb.Engine, value, field) is None:
        return None
    return next(engine for engine, number in _ENGINES.items() if number == value)


def evolution_run(document: dict[str, Any]) -> pb.EvolutionRun:
    """A stored run as its message, the engines of its options and outputs by their proto names."""
    run = {**document}
    if "options" in run:
        run["options"] = _with_engine_number(run["options"])
    for stage in STAGES:
        if stage in run:
            run[stage] = _with_engine_number(run[stage])
    if "results" in run.get("validate", {}):
        run["validate"] = {**run["validate"], "results": [
            {**_with_engine_number(r), "side_effects": [_with_engine_number(e) for e in r.get("side_effects", ())]}
            for r in run["validate"]["results"]]}
    return message(pb.EvolutionRun, run)


def learning_run(document: dict[str, Any]) -> pb.LearningRun:
    """A stored learning run as its message, the engines of the run, its gate and gated personas by their proto
    names."""
    run = _with_engine_number(document)
    if "gate" in run:
        gate = _with_engine_number(run["gate"])
        run["gate"] = {**gate, "personas": [_with_engine_number(p) for p in gate.get("personas", ())]}
    return message(pb.LearningRun, run)


def _with_engine_number(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "engine": _ENGINES[Engine(record["engine"])]} if "engine" in record else record
