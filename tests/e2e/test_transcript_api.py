"""The unary TranscriptService API through a real server: sessions, messages and commands, each bad
request with its exact code, an ErrorInfo reason, never UNKNOWN or INTERNAL, and nothing changed."""

from __future__ import annotations

import grpc
import pytest
import pytest_asyncio
from google.protobuf import timestamp_pb2
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from devtools.gateway import Gateway
from tests.builders import uid
from tests.e2e.transcript_checks import INVALID, all_rows, rejected, scalar, session_id
from tests.e2e.transcript_fixtures import new_session, utterance
from tests.security import secure_channel

NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1


def draft(persona: str = "personas/sarah-chen", **overrides) -> pb.Session:
    values = dict(persona=persona, scenario="scenarios/q2-cost-reduction", blueprint=persona_pb.BLUEPRINT_SALES)
    values.update(overrides)
    return pb.Session(**values)


async def create(stub, **overrides) -> pb.Session:
    return (await stub.CreateSession(pb.CreateSessionRequest(session=draft(**overrides)))).session


async def get(stub, name: str) -> pb.Session:
    return (await stub.GetSession(pb.GetSessionRequest(name=name))).session


async def of_scenario(stub, scenario: str) -> list[str]:
    """The sessions of a scenario: each test makes up its own, as the personas are the shared catalogue's."""
    reply = await stub.ListSessions(pb.ListSessionsRequest(scenario=scenario, page_size=200))
    return [s.name for s in reply.sessions]


# --- sessions -----------------------------------------------------------------------------------


async def test_a_created_session_has_defaults_and_can_be_read_back(transcripts):
    session = await create(transcripts)
    assert session.name.startswith("sessions/") and len(session_id(session.name)) == 36  # a UUID
    assert (session.persona, session.scenario, session.blueprint) == (
        "personas/sarah-chen", "scenarios/q2-cost-reduction", persona_pb.BLUEPRINT_SALES)
    assert session.state == pb.SESSION_STATE_ACTIVE
    assert (session.round_number, session.analysis_interval) == (1, 10)
    assert session.HasField("start_time") and not session.HasField("end_time")
    assert (session.last_durable_sequence, session.message_count, session.etag) == (0, 0, '"1"')
    assert await get(transcripts, session.name) == session


async def test_a_session_keeps_what_the_caller_chose(transcripts):
    chosen = f"call-{uid()}"
    session = (await transcripts.CreateSession(pb.CreateSessionRequest(
        session=draft(round_number=3, analysis_interval=25, persona_revision=7, blueprint=persona_pb.BLUEPRINT_SECURITY,
                      scenario="", state=pb.SESSION_STATE_ENDED, last_durable_sequence=99, etag="x"),
        session_id=chosen))).session
    assert session.name == f"sessions/{chosen}"
    assert (session.round_number, session.analysis_interval, session.persona_revision, session.blueprint) == (
        3, 25, 7, persona_pb.BLUEPRINT_SECURITY)
    assert session.scenario == ""
    # Output-only fields are ignored.
    assert (session.state, session.last_durable_sequence, session.etag) == (pb.SESSION_STATE_ACTIVE, 0, '"1"')


async def test_create_is_idempotent_on_request_id(transcripts):
    scenario = f"scenarios/idem-{uid()}"
    request = pb.CreateSessionRequest(session=draft(scenario=scenario), request_id=f"req-{uid()}")
    first = (await transcripts.CreateSession(request)).session
    again = (await transcripts.CreateSession(request)).session
    assert again == first
    assert await of_scenario(transcripts, scenario) == [first.name]
    other = pb.CreateSessionRequest(session=draft(scenario=scenario, round_number=2), request_id=request.request_id)
    rejection = await rejected(transcripts.CreateSession(other), INVALID)
    assert rejection.fields == ["request_id"]
    assert await of_scenario(transcripts, scenario) == [first.name]


BAD_SESSIONS = {
    "no persona": (dict(persona=""), "", "session.persona"),
    "malformed persona": (dict(persona="sarah-chen"), "", "session.persona"),
    "malformed scenario": (dict(scenario="q2"), "", "session.scenario"),
    "no blueprint": (dict(blueprint=persona_pb.BLUEPRINT_UNSPECIFIED), "", "session.blueprint"),
    "unknown blueprint": (dict(blueprint=99), "", "session.blueprint"),
    "negative round": (dict(round_number=-1), "", "session.round_number"),
    "interval over 1000": (dict(analysis_interval=1001), "", "session.analysis_interval"),
    "negative interval": (dict(analysis_interval=-1), "", "session.analysis_interval"),
    "negative persona revision": (dict(persona_revision=-1), "", "session.persona_revision"),
    "bad session id": ({}, "Not_An_Id", "session_id"),
    "NUL in session id": ({}, "a\x00b", "session_id"),
}


@pytest.mark.parametrize(("overrides", "chosen_id", "field"), BAD_SESSIONS.values(), ids=BAD_SESSIONS.keys())
async def test_bad_sessions_are_refused_and_nothing_is_created(transcripts, overrides, chosen_id, field):
    scenario = f"scenarios/bad-{uid()}"
    request = pb.CreateSessionRequest(session=draft(**{"scenario": scenario, **overrides}), session_id=chosen_id)
    rejection = await rejected(transcripts.CreateSession(request), INVALID)
    assert field in rejection.fields, rejection.violations
    assert rejection.reason == "INVALID_ARGUMENT"
    if overrides.get("scenario") is None:
        assert await of_scenario(transcripts, scenario) == []


async def test_a_session_of_an_unknown_or_deleted_persona_is_refused_and_nothing_is_created(
        transcripts, deleted_persona):
    scenario = f"scenarios/no-persona-{uid()}"
    for persona, code, reason in ((f"personas/no-such-{uid()}", NOT_FOUND, "PERSONA_NOT_FOUND"),
                                  (deleted_persona, PRECONDITION, "PERSONA_DELETED")):
        request = pb.CreateSessionRequest(session=draft(persona, scenario=scenario))
        rejection = await rejected(transcripts.CreateSession(request), code)
        assert (rejection.reason, rejection.info.metadata["resource"]) == (reason, persona)
    assert await of_scenario(transcripts, scenario) == []


async def test_without_the_persona_service_a_session_is_unavailable_and_nothing_is_created(
        engine, transcripts, transcript_settings):
    from transcript_svc.app import build

    app = await build(transcript_settings(persona_address=UNREACHABLE, persona_timeout_seconds=1), engine)
    await app.start()
    scenario = f"scenarios/unreachable-{uid()}"
    try:
        async with secure_channel(app.address) as channel:
            stub = transcript_service_pb2_grpc.TranscriptServiceStub(channel)
            request = pb.CreateSessionRequest(session=draft(scenario=scenario))
            rejection = await rejected(stub.CreateSession(request), grpc.StatusCode.UNAVAILABLE)
    finally:
        await app.stop(grace=1)
    assert rejection.reason == "PERSONA_SERVICE_UNAVAILABLE"
    assert await of_scenario(transcripts, scenario) == []


async def test_every_bad_field_of_a_session_is_named_at_once(transcripts):
    bad = pb.Session(persona="", blueprint=0, round_number=-2, analysis_interval=5000)
    rejection = await rejected(transcripts.CreateSession(pb.CreateSessionRequest(session=bad, session_id="X")),
                               INVALID)
    assert set(rejection.fields) == {"session_id", "session.persona", "session.blueprint", "session.round_number",
                                     "session.analysis_interval"}


async def test_an_existing_session_id_is_already_exists_and_the_session_is_unchanged(transcripts, catalogue):
    chosen = f"call-{uid()}"
    first = (await transcripts.CreateSession(pb.CreateSessionRequest(session=draft(), session_id=chosen))).session
    copy = pb.CreateSessionRequest(session=draft("personas/priya-raman", round_number=4), session_id=chosen)
    rejection = await rejected(transcripts.CreateSession(copy), grpc.StatusCode.ALREADY_EXISTS)
    assert rejection.reason == "SESSION_EXISTS"
    assert rejection.info.metadata["resource"] == first.name
    assert await get(transcripts, first.name) == first


@pytest.mark.parametrize("name", ["sessions/", "call-1", "sessions/Bad", "personas/x", "sessions/a/b", "s" * 5000])
async def test_malformed_session_names_are_invalid(transcripts, name):
    for call in (transcripts.GetSession(pb.GetSessionRequest(name=name)),
                 transcripts.EndSession(pb.EndSessionRequest(name=name))):
        assert (await rejected(call, INVALID)).fields == ["name"]


async def test_unknown_sessions_are_not_found(transcripts):
    for call in (transcripts.GetSession(pb.GetSessionRequest(name="sessions/no-such-call")),
                 transcripts.EndSession(pb.EndSessionRequest(name="sessions/no-such-call")),
                 transcripts.ListMessages(pb.ListMessagesRequest(parent="sessions/no-such-call")),
                 transcripts.GetMessage(pb.GetMessageRequest(name="sessions/no-such-call/messages/1")),
                 transcripts.ListCommands(pb.ListCommandsRequest(parent="sessions/no-such-call")),
                 transcripts.GetCommand(pb.GetCommandRequest(name="sessions/no-such-call/commands/c")),
                 transcripts.SendCommand(pb.SendCommandRequest(parent="sessions/no-such-call", command=pb.Command(
                     type=pb.COMMAND_TYPE_CURVEBALL, text="hello")))):
        rejection = await rejected(call, NOT_FOUND)
        assert rejection.reason == "SESSION_NOT_FOUND"
        assert rejection.info.metadata["resource"] == "sessions/no-such-call"


async def test_sessions_list_newest_first_page_by_page(transcripts):
    scenario = f"scenarios/list-{uid()}"
    made = [await create(transcripts, scenario=scenario) for _ in range(5)]
    names, token, pages = [], "", 0
    while True:
        page = await transcripts.ListSessions(pb.ListSessionsRequest(scenario=scenario, page_size=2,
                                                                     page_token=token))
        assert len(page.sessions) <= 2
        names += [s.name for s in page.sessions]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert names == [s.name for s in reversed(made)]
    assert pages == 3


async def test_sessions_filter_by_persona_scenario_blueprint_state_and_time(transcripts, catalogue):
    persona, other_persona = "personas/sarah-chen", "personas/priya-raman"
    scenario = f"scenarios/filter-{uid()}"
    sales = [await create(transcripts, persona=persona, scenario=scenario) for _ in range(3)]
    security = await create(transcripts, persona=other_persona, scenario=scenario,
                            blueprint=persona_pb.BLUEPRINT_SECURITY)
    await transcripts.EndSession(pb.EndSessionRequest(name=sales[0].name))

    async def listed(**filters) -> list[str]:
        reply = await transcripts.ListSessions(pb.ListSessionsRequest(**{"scenario": scenario, "page_size": 50,
                                                                         **filters}))
        return [s.name for s in reply.sessions]

    everything = [security.name, *(s.name for s in reversed(sales))]
    assert await listed() == everything
    assert await listed(persona=persona) == [s.name for s in reversed(sales)]
    assert await listed(persona=other_persona) == [security.name]
    assert await listed(blueprint=persona_pb.BLUEPRINT_SECURITY) == [security.name]
    assert await listed(blueprint=persona_pb.BLUEPRINT_SALES) == [s.name for s in reversed(sales)]
    assert await listed(state=pb.SESSION_STATE_ENDED) == [sales[0].name]
    assert await listed(state=pb.SESSION_STATE_ACTIVE) == everything[:-1]
    assert await listed(start_time_from=sales[1].start_time) == everything[:3]
    assert await listed(start_time_to=sales[1].start_time) == [sales[0].name]
    assert await listed(start_time_from=sales[1].start_time, start_time_to=security.start_time) == [
        sales[2].name, sales[1].name]
    assert await listed(persona=persona, state=pb.SESSION_STATE_ACTIVE, page_size=1) == [sales[2].name]


async def test_bad_list_requests_are_invalid(transcripts):
    scenario = f"scenarios/badlist-{uid()}"
    await create(transcripts, scenario=scenario)
    await create(transcripts, scenario=scenario)
    page = await transcripts.ListSessions(pb.ListSessionsRequest(scenario=scenario, page_size=1))
    assert page.next_page_token
    cases = {
        "page_token": pb.ListSessionsRequest(scenario=f"scenarios/other-{uid()}", page_token=page.next_page_token),
        "page_token ": pb.ListSessionsRequest(scenario=scenario, page_token="not-a-token"),
        "page_size": pb.ListSessionsRequest(scenario=scenario, page_size=-1),
        "persona": pb.ListSessionsRequest(persona="sarah-chen"),
        "scenario": pb.ListSessionsRequest(scenario="personas/x"),
        "blueprint": pb.ListSessionsRequest(blueprint=77),
        "state": pb.ListSessionsRequest(state=9),
        "start_time_from": pb.ListSessionsRequest(start_time_from=timestamp_pb2.Timestamp(seconds=-(2**40))),
        "start_time_to": pb.ListSessionsRequest(start_time_to=timestamp_pb2.Timestamp(nanos=-1)),
    }
    for field, request in cases.items():
        rejection = await rejected(transcripts.ListSessions(request), INVALID)
        assert rejection.fields == [field.strip()], (field, rejection.violations)


async def test_ending_a_session_checks_the_etag_and_requests_the_audit_once(transcripts, engine):
    session = await create(transcripts)
    rejection = await rejected(transcripts.EndSession(pb.EndSessionRequest(name=session.name, etag='"7"')),
                               grpc.StatusCode.ABORTED)
    assert rejection.reason == "ETAG_MISMATCH" and rejection.info.metadata["current_etag"] == '"1"'
    assert await get(transcripts, session.name) == session
    audits = "SELECT count(*) FROM transcript.outbox WHERE session_id = :id AND kind = 'audit'"
    assert await scalar(engine, audits, id=session_id(session.name)) == 0

    ended = (await transcripts.EndSession(pb.EndSessionRequest(name=session.name, etag=session.etag,
                                                                 reason="candidate hung up"))).session
    assert ended.state == pb.SESSION_STATE_ENDED and ended.end_reason == "candidate hung up"
    assert ended.HasField("end_time") and ended.etag == '"2"'
    assert ended.end_time.ToDatetime() >= ended.start_time.ToDatetime()
    assert await get(transcripts, session.name) == ended
    assert await all_rows(engine, "SELECT kind, up_to_sequence, state FROM transcript.outbox WHERE session_id = :id",
                          id=session_id(session.name)) == [("audit", 0, "pending")]

    # Ending again returns it unchanged, with or without its current etag, and requests no second audit.
    again = (await transcripts.EndSession(pb.EndSessionRequest(name=session.name, reason="another reason"))).session
    assert again == ended
    assert (await transcripts.EndSession(pb.EndSessionRequest(name=session.name, etag='"2"'))).session == ended
    stale = await rejected(transcripts.EndSession(pb.EndSessionRequest(name=session.name, etag=session.etag)),
                           grpc.StatusCode.ABORTED)
    assert stale.reason == "ETAG_MISMATCH"
    assert await scalar(engine, audits, id=session_id(session.name)) == 1


async def test_end_is_idempotent_on_request_id(transcripts, engine):
    session = await create(transcripts)
    request = pb.EndSessionRequest(name=session.name, etag=session.etag, reason="done", request_id=f"end-{uid()}")
    ended = (await transcripts.EndSession(request)).session
    # The retry carries the etag read before the end: it is answered with the first result, not ABORTED.
    assert (await transcripts.EndSession(request)).session == ended
    reused = pb.EndSessionRequest(name=session.name, reason="other", request_id=request.request_id)
    assert (await rejected(transcripts.EndSession(reused), INVALID)).fields == ["request_id"]
    assert await get(transcripts, session.name) == ended
    assert await scalar(engine, "SELECT count(*) FROM transcript.outbox WHERE session_id = :id AND kind = 'audit'",
                        id=session_id(session.name)) == 1


async def test_an_overlong_end_reason_is_refused_and_the_session_stays_active(transcripts):
    session = await create(transcripts)
    rejection = await rejected(transcripts.EndSession(pb.EndSessionRequest(name=session.name, reason="r" * 501)),
                               INVALID)
    assert rejection.fields == ["reason"]
    assert await get(transcripts, session.name) == session


async def test_the_audit_of_an_ended_session_covers_its_durable_messages(transcripts, engine):
    session = await new_session(transcripts)
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    gateway.send(*(utterance(n) for n in range(1, 8)))
    await gateway.acks_until(7)
    gateway.close()
    assert await gateway.call.code() == grpc.StatusCode.OK
    ended = (await transcripts.EndSession(pb.EndSessionRequest(name=session.name))).session
    assert ended.last_durable_sequence == 7
    assert await all_rows(engine, "SELECT up_to_sequence FROM transcript.outbox WHERE session_id = :id "
                                  "AND kind = 'audit'", id=session_id(session.name)) == [(7,)]


# --- messages -----------------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module")
async def stored(transcripts) -> pb.Session:
    """One session with 25 stored messages, shared by the read tests of this module."""
    session = await new_session(transcripts)
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    spoken = timestamp_pb2.Timestamp(seconds=1_750_000_000, nanos=123_000_000)
    gateway.send(*(pb.StreamSessionRequest(utterance=pb.Utterance(
        sequence=n, role=pb.ROLE_USER if n % 2 else pb.ROLE_ASSISTANT, text=" ".join(["word"] * n),
        spoken_time=spoken)) for n in range(1, 26)))
    await gateway.acks_until(25)
    gateway.close()
    assert await gateway.call.code() == grpc.StatusCode.OK
    return session


async def test_a_message_is_read_back_as_it_was_spoken(transcripts, stored):
    session = stored
    message = (await transcripts.GetMessage(pb.GetMessageRequest(name=f"{session.name}/messages/4"))).message
    assert message.name == f"{session.name}/messages/4"
    assert (message.sequence, message.role, message.text, message.word_count) == (
        4, pb.ROLE_ASSISTANT, "word word word word", 4)
    assert (message.spoken_time.seconds, message.spoken_time.nanos) == (1_750_000_000, 123_000_000)
    assert message.HasField("create_time")


async def test_missing_and_malformed_messages(transcripts, stored):
    session = stored
    missing = await rejected(transcripts.GetMessage(pb.GetMessageRequest(name=f"{session.name}/messages/26")),
                             NOT_FOUND)
    assert missing.reason == "MESSAGE_NOT_FOUND"
    for name in (f"{session.name}/messages/0", f"{session.name}/messages/x", f"{session.name}/messages",
                 f"{session.name}/commands/1", "messages/1"):
        assert (await rejected(transcripts.GetMessage(pb.GetMessageRequest(name=name)), INVALID)).fields == ["name"]


async def test_messages_page_by_page(transcripts, stored):
    session = stored
    pages, token = [], ""
    while True:
        reply = await transcripts.ListMessages(pb.ListMessagesRequest(parent=session.name, page_size=10,
                                                                      page_token=token))
        assert reply.last_durable_sequence == 25
        pages.append([m.sequence for m in reply.messages])
        token = reply.next_page_token
        if not token:
            break
    assert pages == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]
    everything = await transcripts.ListMessages(pb.ListMessagesRequest(parent=session.name))
    assert [m.sequence for m in everything.messages] == list(range(1, 26)) and not everything.next_page_token
    assert [m.word_count for m in everything.messages] == list(range(1, 26))


async def test_messages_between_after_and_up_to(transcripts, stored):
    session = stored
    first = await transcripts.ListMessages(pb.ListMessagesRequest(parent=session.name, after_sequence=5,
                                                                  up_to_sequence=12, page_size=4))
    assert [m.sequence for m in first.messages] == [6, 7, 8, 9]
    rest = await transcripts.ListMessages(pb.ListMessagesRequest(parent=session.name, after_sequence=5,
                                                                 up_to_sequence=12, page_size=4,
                                                                 page_token=first.next_page_token))
    assert [m.sequence for m in rest.messages] == [10, 11, 12] and not rest.next_page_token
    beyond = await transcripts.ListMessages(pb.ListMessagesRequest(parent=session.name, after_sequence=25))
    assert list(beyond.messages) == [] and beyond.last_durable_sequence == 25


async def test_the_window_of_the_last_n_messages(transcripts, stored):
    session = stored

    async def window(**fields) -> list[int]:
        reply = await transcripts.ListMessages(pb.ListMessagesRequest(parent=session.name, **fields))
        assert not reply.next_page_token and reply.last_durable_sequence == 25
        return [m.sequence for m in reply.messages]

    assert await window(last_n=5) == [21, 22, 23, 24, 25]
    assert await window(last_n=5, up_to_sequence=12) == [8, 9, 10, 11, 12]
    assert await window(last_n=3, up_to_sequence=2) == [1, 2]
    assert await window(last_n=1000) == list(range(1, 26))
    assert await window(last_n=2, page_size=1) == [24, 25]  # page_size is ignored in window mode


async def test_bad_message_lists_are_invalid_and_name_the_field(transcripts, stored):
    session = stored
    page = await transcripts.ListMessages(pb.ListMessagesRequest(parent=session.name, page_size=5))
    cases = [
        (dict(last_n=5, page_token=page.next_page_token), "last_n"),
        (dict(last_n=5, after_sequence=3), "last_n"),
        (dict(last_n=1001), "last_n"),
        (dict(last_n=-1), "last_n"),
        (dict(after_sequence=-1), "after_sequence"),
        (dict(up_to_sequence=-1), "up_to_sequence"),
        (dict(page_size=-1), "page_size"),
        (dict(page_token="garbage"), "page_token"),
        (dict(page_token=page.next_page_token, after_sequence=2), "page_token"),  # issued for other filters
        (dict(page_token=page.next_page_token, up_to_sequence=9), "page_token"),
    ]
    for fields, field in cases:
        rejection = await rejected(transcripts.ListMessages(pb.ListMessagesRequest(parent=session.name, **fields)),
                                   INVALID)
        assert rejection.fields == [field], (fields, rejection.violations)
    other = await new_session(transcripts)
    foreign = await rejected(transcripts.ListMessages(pb.ListMessagesRequest(
        parent=other.name, page_token=page.next_page_token)), INVALID)
    assert foreign.fields == ["page_token"]
    for parent in ("", "sessions/", session.name + "/messages"):
        assert (await rejected(transcripts.ListMessages(pb.ListMessagesRequest(parent=parent)), INVALID)).fields == [
            "parent"]


async def test_an_empty_session_lists_no_messages(transcripts):
    session = await new_session(transcripts)
    for request in (pb.ListMessagesRequest(parent=session.name), pb.ListMessagesRequest(parent=session.name,
                                                                                          last_n=10)):
        reply = await transcripts.ListMessages(request)
        assert list(reply.messages) == [] and reply.last_durable_sequence == 0 and not reply.next_page_token
    missing = await rejected(transcripts.GetMessage(pb.GetMessageRequest(name=f"{session.name}/messages/1")),
                             NOT_FOUND)
    assert missing.reason == "MESSAGE_NOT_FOUND"


# --- commands -----------------------------------------------------------------------------------


async def commands_of(stub, session: pb.Session, **filters) -> list[pb.Command]:
    reply = await stub.ListCommands(pb.ListCommandsRequest(parent=session.name, page_size=200, **filters))
    return list(reply.commands)


async def send(stub, session: pb.Session, command: pb.Command, **fields) -> pb.Command:
    return (await stub.SendCommand(pb.SendCommandRequest(parent=session.name, command=command, **fields))).command


GOOD_COMMANDS = {
    "context injection": pb.Command(type=pb.COMMAND_TYPE_CONTEXT_INJECTION, text="Mention budget concerns"),
    "curveball with label": pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="Your CTO wants to delay",
                                       label="Competitive Pressure"),
    "difficulty 1": pb.Command(type=pb.COMMAND_TYPE_DIFFICULTY_CHANGE, new_difficulty=1),
    "difficulty 5 with a reason": pb.Command(type=pb.COMMAND_TYPE_DIFFICULTY_CHANGE, new_difficulty=5,
                                             text="the candidate is cruising"),
    "ai suggested": pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="Ask about timeline",
                               source=pb.COMMAND_SOURCE_AI_SUGGESTED, suggestion="sessions/x/suggestions/s-1"),
    "explicitly manual": pb.Command(type=pb.COMMAND_TYPE_CONTEXT_INJECTION, text="t", source=pb.COMMAND_SOURCE_MANUAL),
    "text at the limit": pb.Command(type=pb.COMMAND_TYPE_CONTEXT_INJECTION, text="x" * 2000, label="y" * 100),
}


@pytest.mark.parametrize("command", GOOD_COMMANDS.values(), ids=GOOD_COMMANDS.keys())
async def test_valid_commands_are_stored_pending(transcripts, command):
    session = await new_session(transcripts)
    sent = await send(transcripts, session, command, command_id="cmd-1")
    assert sent.name == f"{session.name}/commands/cmd-1"
    assert (sent.type, sent.text, sent.label, sent.new_difficulty, sent.suggestion) == (
        command.type, command.text, command.label, command.new_difficulty, command.suggestion)
    assert sent.source == (command.source or pb.COMMAND_SOURCE_MANUAL)
    assert (sent.state, sent.delivery_count) == (pb.COMMAND_STATE_PENDING, 0)
    assert sent.HasField("create_time") and not sent.HasField("deliver_time")
    assert (await transcripts.GetCommand(pb.GetCommandRequest(name=sent.name))).command == sent
    assert await commands_of(transcripts, session) == [sent]


BAD_COMMANDS = {
    "no type": (pb.Command(text="hello"), "command.type"),
    "unknown type": (pb.Command(type=9, text="hello"), "command.type"),
    "context injection without text": (pb.Command(type=pb.COMMAND_TYPE_CONTEXT_INJECTION), "command.text"),
    "context injection with blank text": (pb.Command(type=pb.COMMAND_TYPE_CONTEXT_INJECTION, text="  "),
                                          "command.text"),
    "curveball without text": (pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, label="Budget"), "command.text"),
    "curveball with a difficulty": (pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="t", new_difficulty=3),
                                    "command.new_difficulty"),
    "context injection with a difficulty": (pb.Command(type=pb.COMMAND_TYPE_CONTEXT_INJECTION, text="t",
                                                       new_difficulty=1), "command.new_difficulty"),
    "difficulty 0": (pb.Command(type=pb.COMMAND_TYPE_DIFFICULTY_CHANGE), "command.new_difficulty"),
    "difficulty 6": (pb.Command(type=pb.COMMAND_TYPE_DIFFICULTY_CHANGE, new_difficulty=6), "command.new_difficulty"),
    "difficulty -1": (pb.Command(type=pb.COMMAND_TYPE_DIFFICULTY_CHANGE, new_difficulty=-1),
                      "command.new_difficulty"),
    "ai suggested without suggestion": (pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="t",
                                                   source=pb.COMMAND_SOURCE_AI_SUGGESTED), "command.suggestion"),
    "malformed suggestion": (pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="t", source=pb.COMMAND_SOURCE_AI_SUGGESTED,
                                        suggestion="suggestions/s-1"), "command.suggestion"),
    "unknown source": (pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="t", source=5), "command.source"),
    "text over 2000": (pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="x" * 2001), "command.text"),
    "label over 100": (pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="t", label="x" * 101), "command.label"),
    "NUL in text": (pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="a\x00b"), "command.text"),
}


@pytest.mark.parametrize(("command", "field"), BAD_COMMANDS.values(), ids=BAD_COMMANDS.keys())
async def test_bad_commands_are_refused_and_nothing_is_stored(transcripts, command, field):
    session = await new_session(transcripts)
    rejection = await rejected(transcripts.SendCommand(pb.SendCommandRequest(parent=session.name, command=command)),
                               INVALID)
    assert rejection.fields == [field], rejection.violations
    assert rejection.reason == "INVALID_ARGUMENT"
    assert await commands_of(transcripts, session) == []


async def test_bad_command_ids_and_parents_are_refused(transcripts):
    session = await new_session(transcripts)
    good = pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="t")
    for command_id in ("Bad", "a_b", "-a", "a" * 64):
        rejection = await rejected(transcripts.SendCommand(pb.SendCommandRequest(
            parent=session.name, command=good, command_id=command_id)), INVALID)
        assert rejection.fields == ["command_id"]
    for parent in ("", "call-1", "sessions/x/commands/y"):
        rejection = await rejected(transcripts.SendCommand(pb.SendCommandRequest(parent=parent, command=good)),
                                   INVALID)
        assert rejection.fields == ["parent"]
    assert await commands_of(transcripts, session) == []


async def test_a_command_to_an_ended_session_is_refused(transcripts):
    session = await new_session(transcripts)
    await transcripts.EndSession(pb.EndSessionRequest(name=session.name))
    rejection = await rejected(send(transcripts, session, pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="late")),
                               PRECONDITION)
    assert rejection.reason == "SESSION_ENDED" and rejection.info.metadata["resource"] == session.name
    assert await commands_of(transcripts, session) == []


async def test_an_existing_command_id_is_already_exists(transcripts):
    session = await new_session(transcripts)
    first = await send(transcripts, session, pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="one"), command_id="c1")
    rejection = await rejected(send(transcripts, session, pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="two"),
                                    command_id="c1"), grpc.StatusCode.ALREADY_EXISTS)
    assert rejection.reason == "COMMAND_EXISTS"
    assert await commands_of(transcripts, session) == [first]
    # The same id in another session is another command.
    other = await new_session(transcripts)
    assert (await send(transcripts, other, pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="one"),
                       command_id="c1")).name == f"{other.name}/commands/c1"


async def test_a_retried_command_is_answered_once_and_delivered_once(transcripts):
    session = await new_session(transcripts)
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    request = pb.SendCommandRequest(parent=session.name, request_id=f"suggestion-{uid()}", command=pb.Command(
        type=pb.COMMAND_TYPE_CONTEXT_INJECTION, text="Mention the competitor"))
    first = (await transcripts.SendCommand(request)).command
    delivered = (await gateway.read()).command
    assert delivered.name == first.name and delivered.state == pb.COMMAND_STATE_PENDING

    retried = (await transcripts.SendCommand(request)).command
    assert retried == first
    # A marker sent after the retry arrives next: the retry put nothing on the stream.
    marker = await send(transcripts, session, pb.Command(type=pb.COMMAND_TYPE_DIFFICULTY_CHANGE, new_difficulty=2))
    assert (await gateway.read()).command.name == marker.name
    reused = pb.SendCommandRequest(parent=session.name, request_id=request.request_id, command=pb.Command(
        type=pb.COMMAND_TYPE_CONTEXT_INJECTION, text="Something else"))
    assert (await rejected(transcripts.SendCommand(reused), INVALID)).fields == ["request_id"]
    stored = await commands_of(transcripts, session)
    assert [c.name for c in stored] == [first.name, marker.name]
    assert stored[0].delivery_count == 1 and stored[0].state == pb.COMMAND_STATE_DELIVERED
    gateway.close()
    assert await gateway.call.code() == grpc.StatusCode.OK


async def test_commands_list_oldest_first_by_state_and_source(transcripts):
    session = await new_session(transcripts)
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    acked = await send(transcripts, session, pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text="acked"))
    assert (await gateway.read()).command.name == acked.name
    gateway.send(pb.StreamSessionRequest(command_ack=pb.CommandAck(command=acked.name)))
    delivered = await send(transcripts, session, pb.Command(
        type=pb.COMMAND_TYPE_CURVEBALL, text="delivered", source=pb.COMMAND_SOURCE_AI_SUGGESTED,
        suggestion=f"{session.name}/suggestions/s-1"))
    assert (await gateway.read()).command.name == delivered.name
    gateway.send(utterance(1))
    await gateway.acks_until(1)  # the command ack, sent before, has been handled
    gateway.close()
    assert await gateway.call.code() == grpc.StatusCode.OK
    pending = await send(transcripts, session, pb.Command(type=pb.COMMAND_TYPE_DIFFICULTY_CHANGE, new_difficulty=3))

    async def names(**filters) -> list[str]:
        return [c.name for c in await commands_of(transcripts, session, **filters)]

    assert await names() == [acked.name, delivered.name, pending.name]
    assert await names(state=pb.COMMAND_STATE_ACKNOWLEDGED) == [acked.name]
    assert await names(state=pb.COMMAND_STATE_DELIVERED) == [delivered.name]
    assert await names(state=pb.COMMAND_STATE_PENDING) == [pending.name]
    assert await names(source=pb.COMMAND_SOURCE_AI_SUGGESTED) == [delivered.name]
    assert await names(source=pb.COMMAND_SOURCE_MANUAL) == [acked.name, pending.name]
    assert await names(source=pb.COMMAND_SOURCE_MANUAL, state=pb.COMMAND_STATE_PENDING) == [pending.name]
    states = {c.name: (c.state, c.delivery_count, c.HasField("acknowledge_time"))
              for c in await commands_of(transcripts, session)}
    assert states == {acked.name: (pb.COMMAND_STATE_ACKNOWLEDGED, 1, True),
                      delivered.name: (pb.COMMAND_STATE_DELIVERED, 1, False),
                      pending.name: (pb.COMMAND_STATE_PENDING, 0, False)}

    first = await transcripts.ListCommands(pb.ListCommandsRequest(parent=session.name, page_size=2))
    assert [c.name for c in first.commands] == [acked.name, delivered.name] and first.next_page_token
    rest = await transcripts.ListCommands(pb.ListCommandsRequest(parent=session.name, page_size=2,
                                                                 page_token=first.next_page_token))
    assert [c.name for c in rest.commands] == [pending.name] and not rest.next_page_token

    for request, field in [
        (pb.ListCommandsRequest(parent=session.name, state=9), "state"),
        (pb.ListCommandsRequest(parent=session.name, source=9), "source"),
        (pb.ListCommandsRequest(parent=session.name, page_size=-3), "page_size"),
        (pb.ListCommandsRequest(parent=session.name, page_token="nope"), "page_token"),
        (pb.ListCommandsRequest(parent=session.name, page_token=first.next_page_token,
                                state=pb.COMMAND_STATE_PENDING), "page_token"),
        (pb.ListCommandsRequest(parent="sessions"), "parent"),
    ]:
        assert (await rejected(transcripts.ListCommands(request), INVALID)).fields == [field]


async def test_missing_and_malformed_commands(transcripts):
    session = await new_session(transcripts)
    missing = await rejected(transcripts.GetCommand(pb.GetCommandRequest(name=f"{session.name}/commands/none")),
                             NOT_FOUND)
    assert missing.reason == "COMMAND_NOT_FOUND"
    for name in (f"{session.name}/commands/Bad", f"{session.name}/commands", f"{session.name}/messages/1", "c"):
        assert (await rejected(transcripts.GetCommand(pb.GetCommandRequest(name=name)), INVALID)).fields == ["name"]
