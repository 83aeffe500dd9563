"""Transcript rules without I/O: commands per type, utterance text, word counts, when analyses fall due,
and the proto conversions that guard the service (resource names, timestamps, enums)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from google.protobuf import timestamp_pb2
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb

from svckit.errors import FieldViolation, InvalidArgument, Violations
from transcript_svc.domain.model import (
    MAX_COMMAND_TEXT_CHARS,
    MAX_LABEL_CHARS,
    MAX_TEXT_CHARS,
    Command,
    CommandSource,
    CommandState,
    CommandType,
    Role,
    Utterance,
    analysis_due,
    check_command,
    check_utterance_text,
)
from transcript_svc.entrypoints import convert

EPOCH = datetime.fromtimestamp(0, UTC)


def collected(check) -> dict[str, str]:
    """Runs ``check(violations)``; returns the violations it added, field -> description."""
    violations = Violations()
    check(violations)
    try:
        violations.raise_if_any()
    except InvalidArgument as error:
        return {v.field: v.description for v in error.violations}
    return {}


def raised(call) -> list[FieldViolation]:
    with pytest.raises(InvalidArgument) as error:
        call()
    assert error.value.reason == "INVALID_ARGUMENT"
    return error.value.violations


def command(**overrides) -> Command:
    values = dict(session_id="s", id="c", type=CommandType.CONTEXT_INJECTION, text="Mention budget concerns",
                  label="Budget", new_difficulty=0, source=CommandSource.MANUAL, suggestion="",
                  state=CommandState.PENDING, delivery_count=0, create_time=EPOCH)
    values.update(overrides)
    return Command(**values)


# --- commands ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [CommandType.CONTEXT_INJECTION, CommandType.CURVEBALL])
def test_text_commands_need_text(kind):
    assert collected(lambda v: check_command(command(type=kind), v)) == {}
    for empty in ("", "   \n\t"):
        found = collected(lambda v, empty=empty: check_command(command(type=kind, text=empty), v))
        assert list(found) == ["command.text"]
        assert kind.name in found["command.text"]


@pytest.mark.parametrize("kind", [CommandType.CONTEXT_INJECTION, CommandType.CURVEBALL])
@pytest.mark.parametrize("difficulty", [1, 5, -1])
def test_only_difficulty_changes_carry_a_difficulty(kind, difficulty):
    found = collected(lambda v: check_command(command(type=kind, new_difficulty=difficulty), v))
    assert list(found) == ["command.new_difficulty"]
    assert "DIFFICULTY_CHANGE" in found["command.new_difficulty"]


@pytest.mark.parametrize("difficulty", [1, 2, 3, 4, 5])
def test_a_difficulty_change_takes_1_to_5_and_text_is_optional(difficulty):
    for text in ("", "the candidate is cruising"):
        change = command(type=CommandType.DIFFICULTY_CHANGE, text=text, new_difficulty=difficulty)
        assert collected(lambda v, change=change: check_command(change, v)) == {}


@pytest.mark.parametrize("difficulty", [0, 6, -1, 100])
def test_a_difficulty_change_out_of_range_is_refused(difficulty):
    change = command(type=CommandType.DIFFICULTY_CHANGE, text="", new_difficulty=difficulty)
    found = collected(lambda v: check_command(change, v))
    assert list(found) == ["command.new_difficulty"]
    assert f"got {difficulty}" in found["command.new_difficulty"]


def test_ai_suggested_commands_name_their_suggestion():
    bare = command(source=CommandSource.AI_SUGGESTED)
    assert list(collected(lambda v: check_command(bare, v))) == ["command.suggestion"]
    named = command(source=CommandSource.AI_SUGGESTED, suggestion="sessions/s/suggestions/g1")
    assert collected(lambda v: check_command(named, v)) == {}
    assert collected(lambda v: check_command(command(source=CommandSource.MANUAL, suggestion=""), v)) == {}


def test_command_text_and_label_limits():
    at_limit = command(text="x" * MAX_COMMAND_TEXT_CHARS, label="y" * MAX_LABEL_CHARS)
    assert collected(lambda v: check_command(at_limit, v)) == {}
    over = command(text="x" * (MAX_COMMAND_TEXT_CHARS + 1), label="y" * (MAX_LABEL_CHARS + 1))
    assert set(collected(lambda v: check_command(over, v))) == {"command.text", "command.label"}
    nul = command(text="a\x00b", label="c\x00")
    found = collected(lambda v: check_command(nul, v))
    assert set(found) == {"command.text", "command.label"} and "NUL" in found["command.label"]


def test_every_bad_field_of_a_command_is_named_at_once_with_the_prefix():
    bad = command(type=CommandType.CURVEBALL, text="", label="z" * 101, new_difficulty=3,
                  source=CommandSource.AI_SUGGESTED)
    found = collected(lambda v: check_command(bad, v, prefix="cmd"))
    assert set(found) == {"cmd.text", "cmd.label", "cmd.new_difficulty", "cmd.suggestion"}


# --- utterances -------------------------------------------------------------------------------


def test_utterance_text_limits_count_code_points():
    assert collected(lambda v: check_utterance_text("x" * MAX_TEXT_CHARS, v)) == {}
    assert collected(lambda v: check_utterance_text("é" * MAX_TEXT_CHARS, v)) == {}  # 8000 UTF-8 bytes
    assert collected(lambda v: check_utterance_text("😀" * MAX_TEXT_CHARS, v)) == {}
    found = collected(lambda v: check_utterance_text("x" * (MAX_TEXT_CHARS + 1), v))
    assert list(found) == ["utterance.text"] and "4000" in found["utterance.text"]


@pytest.mark.parametrize("text", ["", " ", "\n\t  \r"])
def test_blank_utterances_are_refused(text):
    assert collected(lambda v: check_utterance_text(text, v)) == {"utterance.text": "must not be empty"}


def test_nul_in_an_utterance_is_refused_under_the_given_field():
    found = collected(lambda v: check_utterance_text("hello\x00there", v, field="text"))
    assert list(found) == ["text"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("hello", 1),
        ("Hello there, how are you?", 5),
        ("  leading and trailing  ", 3),
        ("tabs\tand\nnewlines\r\nmixed", 4),
        ("many     spaces   between", 3),
        ("non\u00a0breaking space", 3),  # str.split() treats NBSP as whitespace
        ("ponctuation ! seule", 3),
        ("", 0),
    ],
)
def test_word_count_is_whitespace_separated_words(text, words):
    assert Utterance(1, Role.USER, text, EPOCH).word_count == words


# --- analysis triggers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "new", "interval", "due"),
    [
        (0, 9, 10, [4]),
        (0, 10, 10, [4, 10]),  # a first reading after two exchanges
        (0, 3, 10, []),
        (3, 4, 10, [4]),
        (4, 9, 10, []),
        (9, 10, 10, [10]),
        (10, 10, 10, []),  # nothing new
        (10, 11, 10, []),
        (10, 19, 10, []),
        (19, 20, 10, [20]),
        (5, 35, 10, [10, 20, 30]),
        (0, 8, 8, [4, 8]),
        (0, 7, 7, [7]),  # too short an interval for an earlier reading
        (0, 5, 1, [1, 2, 3, 4, 5]),
        (3, 5, 1, [4, 5]),
        (0, 2, 3, []),
        (2, 3, 3, [3]),
        (0, 999, 1000, [4]),
        (999, 1000, 1000, [1000]),
        (12, 7, 10, []),  # the record never shrinks; a lower value finds nothing due
    ],
)
def test_analysis_falls_due_early_then_at_multiples_of_the_interval(previous, new, interval, due):
    assert analysis_due(previous, new, interval) == due


def test_analyses_due_over_consecutive_commits_cover_every_multiple_once():
    interval, seen, last = 7, [], 0
    for top in (1, 6, 7, 8, 20, 21, 22, 50, 50, 56):
        seen += analysis_due(last, top, interval)
        last = max(last, top)
    assert seen == [7, 14, 21, 28, 35, 42, 49, 56]


# --- convert: resource names ------------------------------------------------------------------


def test_session_names():
    assert convert.session_id_of("sessions/call-1") == "call-1"
    for bad in ("", "sessions/", "call-1", "sessions/Call", "sessions/a/b", "personas/x", "sessions/a--b",
                "sessions/" + "a" * 64, "sessions/a\x00"):
        violations = raised(lambda bad=bad: convert.session_id_of(bad, "parent"))
        assert [v.field for v in violations] == ["parent"]


def test_message_names_carry_a_positive_sequence():
    assert convert.message_ref("sessions/call-1/messages/42") == ("call-1", 42)
    for bad in ("sessions/call-1/messages/0", "sessions/call-1/messages/-1", "sessions/call-1/messages/x",
                "sessions/call-1/messages/", "sessions/call-1/messages/1.5", "sessions/call-1/messages/" + "9" * 19,
                "sessions/call-1/commands/1", "sessions/Call/messages/1", "sessions/call-1/messages/1/x"):
        assert [v.field for v in raised(lambda bad=bad: convert.message_ref(bad))] == ["name"]


def test_command_names():
    assert convert.command_ref("sessions/call-1/commands/cmd-7") == ("call-1", "cmd-7")
    for bad in ("sessions/call-1/commands/CMD", "sessions/call-1/commands/", "sessions/call-1/messages/c",
                "commands/c", "sessions/call-1/commands/a b"):
        assert [v.field for v in raised(lambda bad=bad: convert.command_ref(bad, "command_ack.command"))] == [
            "command_ack.command"]


def test_bad_names_are_echoed_truncated():
    violations = raised(lambda: convert.session_id_of("x" * 10_000))
    assert len(violations[0].description) < 300


# --- convert: timestamps ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(0, -1), (0, 1_000_000_000), (-62_135_596_801, 0), (253_402_300_800, 0), (2**62, 0), (-(2**62), 0)],
)
def test_malformed_timestamps_are_violations_not_crashes(seconds, nanos):
    stamp = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    found = collected(lambda v: convert.time_of(stamp, "utterance.spoken_time", v))
    assert found == {"utterance.spoken_time": "is not a valid timestamp"}


@pytest.mark.parametrize(("seconds", "nanos"), [(-62_135_596_800, 0), (253_402_300_799, 999_999_999), (0, 0)])
def test_timestamps_at_the_edges_of_the_range_are_accepted(seconds, nanos):
    stamp = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    violations = Violations()
    value = convert.time_of(stamp, "t", violations)
    assert not violations and value is not None and value.tzinfo is not None


def test_timestamps_round_trip():
    when = datetime(2025, 3, 4, 5, 6, 7, 891_000, tzinfo=UTC)
    violations = Violations()
    assert convert.time_of(convert.timestamp(when), "t", violations) == when
    assert convert.timestamp(None) is None


# --- convert: utterances, sessions, commands --------------------------------------------------


def test_an_utterance_is_converted_with_its_role_and_time():
    stamp = convert.timestamp(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    utterance = convert.utterance_of(pb.Utterance(sequence=3, role=pb.ROLE_ASSISTANT, text="Hi there",
                                                  spoken_time=stamp))
    assert (utterance.sequence, utterance.role, utterance.text) == (3, Role.ASSISTANT, "Hi there")
    assert utterance.spoken_time == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert utterance.word_count == 2


def test_an_utterance_without_a_time_is_stamped_on_receipt():
    before = datetime.now(UTC)
    utterance = convert.utterance_of(pb.Utterance(sequence=1, role=pb.ROLE_USER, text="hello"))
    assert before <= utterance.spoken_time <= datetime.now(UTC)


def test_every_bad_field_of_an_utterance_is_named_at_once():
    bad = pb.Utterance(sequence=0, role=9, text=" ", spoken_time=timestamp_pb2.Timestamp(nanos=-1))
    fields = {v.field for v in raised(lambda: convert.utterance_of(bad))}
    assert fields == {"utterance.sequence", "utterance.role", "utterance.text", "utterance.spoken_time"}
    assert {v.field for v in raised(lambda: convert.utterance_of(pb.Utterance(sequence=-5, role=0, text="ok")))} == {
        "utterance.sequence", "utterance.role"}


def test_session_drafts():
    draft = convert.session_draft(pb.Session(persona="personas/sarah-chen", scenario="scenarios/q2",
                                             blueprint=persona_pb.BLUEPRINT_SALES, round_number=2,
                                             analysis_interval=5))
    assert (draft.persona, draft.scenario, draft.blueprint, draft.round_number, draft.analysis_interval) == (
        "personas/sarah-chen", "scenarios/q2", "sales", 2, 5)
    message = convert.session_message(dataclasses.replace(draft, id="call-1", revision=3))
    assert message.name == "sessions/call-1" and message.etag == '"3"'
    assert message.blueprint == persona_pb.BLUEPRINT_SALES
    fields = {v.field for v in raised(lambda: convert.session_draft(pb.Session(
        persona="sarah-chen", scenario="scenario/x", blueprint=999)))}
    assert fields == {"session.persona", "session.scenario", "session.blueprint"}


def test_command_drafts():
    draft = convert.command_draft(pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="The CTO wants a delay"))
    assert (draft.type, draft.source) == (CommandType.CURVEBALL, CommandSource.MANUAL)
    suggested = convert.command_draft(pb.Command(type=pb.COMMAND_TYPE_CONTEXT_INJECTION, text="t",
                                                 source=pb.COMMAND_SOURCE_AI_SUGGESTED,
                                                 suggestion="sessions/call-1/suggestions/s-1"))
    assert suggested.source is CommandSource.AI_SUGGESTED
    fields = {v.field for v in raised(lambda: convert.command_draft(pb.Command(
        type=0, source=7, suggestion="suggestions/s-1")))}
    assert fields == {"command.type", "command.source", "command.suggestion"}
    assert {v.field for v in raised(lambda: convert.command_draft(pb.Command(type=42)))} == {"command.type"}


def test_enum_filters():
    assert convert.session_state_of(pb.SESSION_STATE_UNSPECIFIED) is None
    assert convert.session_state_of(pb.SESSION_STATE_ENDED) == "ended"
    assert convert.command_state_of(pb.COMMAND_STATE_DELIVERED) == "delivered"
    assert convert.command_source_filter(pb.COMMAND_SOURCE_AI_SUGGESTED) == "ai_suggested"
    assert convert.command_source_filter(pb.COMMAND_SOURCE_UNSPECIFIED) is None
    for call in (lambda: convert.session_state_of(9), lambda: convert.command_state_of(9)):
        assert [v.field for v in raised(call)] == ["state"]
    assert [v.field for v in raised(lambda: convert.command_source_filter(9))] == ["source"]
