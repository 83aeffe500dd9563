"""Transcript protos to domain objects and back."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb

from svckit import names
from svckit.blueprints import blueprint_name, blueprint_value
from svckit.enums import enum_filter
from svckit.errors import FieldViolation, InvalidArgument, Violations
from svckit.times import time_of, timestamp
from transcript_svc.domain.model import (
    Command,
    CommandSource,
    CommandState,
    CommandType,
    Message,
    Role,
    Session,
    SessionState,
    Utterance,
    check_utterance_text,
)
from transcript_svc.domain.voice_rounds import RoundEndReason, VoiceRound
from transcript_svc.entrypoints.handoff_convert import handoff_message

_ROLES = {pb.ROLE_USER: Role.USER, pb.ROLE_ASSISTANT: Role.ASSISTANT}
_ROLE_ENUMS = {v: k for k, v in _ROLES.items()}
_STATES = {SessionState.ACTIVE: pb.SESSION_STATE_ACTIVE, SessionState.ENDED: pb.SESSION_STATE_ENDED}
_STATE_OF: dict[int, SessionState] = {v: k for k, v in _STATES.items()}
_COMMAND_TYPES = {pb.COMMAND_TYPE_CONTEXT_INJECTION: CommandType.CONTEXT_INJECTION,
                  pb.COMMAND_TYPE_CURVEBALL: CommandType.CURVEBALL,
                  pb.COMMAND_TYPE_DIFFICULTY_CHANGE: CommandType.DIFFICULTY_CHANGE}
# HANDOFF commands come from StartHandoff only: SendCommand does not take them.
_COMMAND_TYPE_ENUMS = {**{v: k for k, v in _COMMAND_TYPES.items()}, CommandType.HANDOFF: pb.COMMAND_TYPE_HANDOFF,
                       CommandType.END_CALL: pb.COMMAND_TYPE_END_CALL}
_SOURCES: dict[int, CommandSource] = {
    pb.COMMAND_SOURCE_UNSPECIFIED: CommandSource.MANUAL, pb.COMMAND_SOURCE_MANUAL: CommandSource.MANUAL,
    pb.COMMAND_SOURCE_AI_SUGGESTED: CommandSource.AI_SUGGESTED}
_SOURCE_ENUMS = {CommandSource.MANUAL: pb.COMMAND_SOURCE_MANUAL,
                 CommandSource.AI_SUGGESTED: pb.COMMAND_SOURCE_AI_SUGGESTED,
                 CommandSource.SAFETY_POLICY: pb.COMMAND_SOURCE_SAFETY_POLICY}
_COMMAND_STATES = {CommandState.PENDING: pb.COMMAND_STATE_PENDING, CommandState.DELIVERED: pb.COMMAND_STATE_DELIVERED,
                   CommandState.ACKNOWLEDGED: pb.COMMAND_STATE_ACKNOWLEDGED,
                   CommandState.AWAITING_APPROVAL: pb.COMMAND_STATE_AWAITING_APPROVAL,
                   CommandState.REFUSED: pb.COMMAND_STATE_REFUSED}
_COMMAND_STATE_OF: dict[int, CommandState] = {v: k for k, v in _COMMAND_STATES.items()}

def session_id_of(name: str, field: str = "name") -> str:
    return names.resource_id(name, "sessions", field)


def child_ref(name: str, collection: str, field: str) -> tuple[str, str]:
    """(session id, child id) of ``sessions/{s}/{collection}/{id}``."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "sessions" or parts[2] != collection or not names.valid_id(parts[1]):
        raise InvalidArgument(FieldViolation(
            field, f"must be a resource name like 'sessions/{{session_id}}/{collection}/{{id}}' (got {name[:100]!r})"))
    return parts[1], parts[3]


def message_ref(name: str, field: str = "name") -> tuple[str, int]:
    session_id, sequence = child_ref(name, "messages", field)
    if not sequence.isdigit() or len(sequence) > 18 or int(sequence) < 1:
        raise InvalidArgument(FieldViolation(field, f"the sequence must be a positive number (got {sequence[:30]!r})"))
    return session_id, int(sequence)


def command_type_enum(command_type: CommandType) -> pb.CommandType.ValueType:
    return _COMMAND_TYPE_ENUMS[command_type]


def command_ref(name: str, field: str = "name") -> tuple[str, str]:
    session_id, command_id = child_ref(name, "commands", field)
    if not names.valid_id(command_id):
        raise InvalidArgument(FieldViolation(field, f"{command_id[:100]!r} is not a command id"))
    return session_id, command_id


def utterance_of(message: pb.Utterance) -> Utterance:
    violations = Violations()
    if message.sequence < 1:
        violations.add("utterance.sequence", f"must be 1 or more (got {message.sequence})")
    role = _ROLES.get(message.role)
    if role is None:
        violations.add("utterance.role", "must be ROLE_USER or ROLE_ASSISTANT")
    check_utterance_text(message.text, violations)
    spoken = datetime.now(UTC)
    if message.HasField("spoken_time"):
        spoken = time_of(message.spoken_time, "utterance.spoken_time", violations) or spoken
    violations.raise_if_any()
    return Utterance(message.sequence, role, message.text, spoken)  # type: ignore[arg-type]


def session_draft(message: pb.Session) -> Session:
    violations = Violations()
    persona = ""
    if message.persona:
        try:
            names.resource_id(message.persona, "personas", "session.persona")
            persona = message.persona
        except InvalidArgument as error:
            for violation in error.violations:
                violations.add(violation.field, violation.description)
    if message.scenario:
        try:
            names.resource_id(message.scenario, "scenarios", "session.scenario")
        except InvalidArgument as error:
            for violation in error.violations:
                violations.add(violation.field, violation.description)
    if message.candidate:
        try:
            names.resource_id(message.candidate, "candidates", "session.candidate")
        except InvalidArgument as error:
            for violation in error.violations:
                violations.add(violation.field, violation.description)
    blueprint = ""
    if message.blueprint:
        if message.blueprint not in persona_pb.Blueprint.values():
            violations.add("session.blueprint", f"{message.blueprint} is not a known Blueprint")
        else:
            blueprint = blueprint_name(message.blueprint)
    violations.raise_if_any()
    epoch = datetime.fromtimestamp(0, UTC)
    return Session(
        id="", persona=persona, scenario=message.scenario, blueprint=blueprint, round_number=message.round_number,
        state=SessionState.ACTIVE, persona_revision=message.persona_revision,
        analysis_interval=message.analysis_interval, start_time=epoch, end_time=None, end_reason="",
        last_sequence=0, revision=0, update_time=epoch, gateway=message.gateway, candidate=message.candidate,
    )


def session_message(session: Session) -> pb.Session:
    return pb.Session(
        name=session.resource_name,
        persona=session.persona,
        scenario=session.scenario,
        blueprint=persona_pb.Blueprint.ValueType(blueprint_value(session.blueprint)),
        round_number=session.round_number,
        state=_STATES[session.state],
        persona_revision=session.persona_revision,
        analysis_interval=session.analysis_interval,
        start_time=timestamp(session.start_time),
        end_time=timestamp(session.end_time),
        message_count=session.last_sequence,
        last_durable_sequence=session.last_sequence,
        end_reason=session.end_reason,
        update_time=timestamp(session.update_time),
        etag=session.etag,
        interviewer=session.interviewer,
        gateway=session.gateway,
        candidate=session.candidate,
        current_persona=session.playing_persona,
        experiment=session.experiment,
        experiment_variant=session.experiment_variant,
    )


def session_state_of(value: int) -> str | None:
    state = enum_filter(_STATE_OF, value, "state", pb.SessionState)
    return state.value if state else None


def message_message(message: Message) -> pb.Message:
    return pb.Message(
        name=f"sessions/{message.session_id}/messages/{message.sequence}",
        sequence=message.sequence,
        role=_ROLE_ENUMS[message.role],
        text=message.text,
        spoken_time=timestamp(message.spoken_time),
        word_count=message.word_count,
        create_time=timestamp(message.create_time),
        flags=[pb.MessageFlag(rule=flag.rule, blocked=flag.blocked) for flag in message.flags],
    )


def command_draft(message: pb.Command) -> Command:
    violations = Violations()
    command_type = _COMMAND_TYPES.get(message.type)
    if command_type is None:
        violations.add("command.type", "is required: CONTEXT_INJECTION, CURVEBALL or DIFFICULTY_CHANGE")
    source = _SOURCES.get(message.source)
    if source is None:
        violations.add("command.source", f"{message.source} is not a known CommandSource")
    if message.suggestion:
        try:
            child_ref(message.suggestion, "suggestions", "command.suggestion")
        except InvalidArgument as error:
            for violation in error.violations:
                violations.add(violation.field, violation.description)
    violations.raise_if_any()
    epoch = datetime.fromtimestamp(0, UTC)
    return Command(
        session_id="", id="", type=command_type, text=message.text, label=message.label,  # type: ignore[arg-type]
        new_difficulty=message.new_difficulty, source=source, suggestion=message.suggestion,  # type: ignore[arg-type]
        state=CommandState.PENDING, delivery_count=0, create_time=epoch,
    )


def command_message(command: Command) -> pb.Command:
    return pb.Command(
        name=command.resource_name,
        type=_COMMAND_TYPE_ENUMS[command.type],
        text=command.text,
        label=command.label,
        new_difficulty=command.new_difficulty,
        source=_SOURCE_ENUMS[command.source],
        suggestion=command.suggestion,
        state=_COMMAND_STATES[command.state],
        delivery_count=command.delivery_count,
        create_time=timestamp(command.create_time),
        deliver_time=timestamp(command.deliver_time),
        acknowledge_time=timestamp(command.acknowledge_time),
        handoff=handoff_message(command.handoff) if command.handoff else None,
        approval=command.approval,
    )


def command_state_of(value: int) -> str | None:
    state = enum_filter(_COMMAND_STATE_OF, value, "state", pb.CommandState)
    return state.value if state else None


def command_source_filter(value: int) -> str | None:
    source = enum_filter(_SOURCES, value, "source", pb.CommandSource)
    return source.value if source else None


def voice_round_ref(name: str, field: str = "name") -> tuple[str, int]:
    session_id, number = child_ref(name, "voiceRounds", field)
    if not re.fullmatch(r"[1-9][0-9]{0,8}", number):
        raise InvalidArgument(FieldViolation(field, f"{number[:100]!r} is not a round number"))
    return session_id, int(number)


_ROUND_END_REASONS = {RoundEndReason.ENDED: pb.VOICE_ROUND_END_REASON_ENDED,
                      RoundEndReason.SESSION_ENDED: pb.VOICE_ROUND_END_REASON_SESSION_ENDED,
                      RoundEndReason.HANDOFF: pb.VOICE_ROUND_END_REASON_HANDOFF}


def voice_round_message(voice_round: VoiceRound) -> pb.VoiceRound:
    return pb.VoiceRound(
        name=voice_round.resource_name, round_number=voice_round.round_number, provider=voice_round.provider,
        voice_agent=voice_round.voice_agent, provider_agent_id=voice_round.provider_agent_id,
        signed_url=voice_round.signed_url, access_token=voice_round.access_token,
        agent_reused=voice_round.agent_reused,
        start_time=timestamp(voice_round.start_time), end_time=timestamp(voice_round.end_time),
        persona=voice_round.persona, handoff=voice_round.handoff,
        end_reason=_ROUND_END_REASONS[voice_round.end_reason] if voice_round.end_reason
        else pb.VOICE_ROUND_END_REASON_UNSPECIFIED)
