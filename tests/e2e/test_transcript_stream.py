"""StreamSession through a real server: acks after commit, resend, resume, commands, end."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sparring.transcript.v1 import transcript_service_pb2 as pb

from devtools.gateway import Gateway
from tests.e2e.transcript_checks import commands_touched_after_the_commit, statements_run
from tests.e2e.transcript_fixtures import new_session, utterance


async def test_utterances_are_acked_in_order_and_stored_once(transcripts):
    session = await new_session(transcripts)
    gateway = Gateway(transcripts, session.name)
    opened = (await gateway.read()).opened
    assert opened.last_durable_sequence == 0 and opened.max_in_flight > 0
    gateway.send(*(utterance(n) for n in range(1, 51)))
    acks = await gateway.acks_until(50)
    assert [a.sequence for a in acks] == list(range(1, 51))
    assert not any(a.duplicate for a in acks)

    gateway.send(utterance(49), utterance(50))  # resent: acked again, stored once
    again = await gateway.acks_until(50)
    assert [(a.sequence, a.duplicate) for a in again] == [(49, True), (50, True)]
    gateway.close()
    assert await gateway.call.code() == grpc.StatusCode.OK

    listed = await transcripts.ListMessages(pb.ListMessagesRequest(parent=session.name, page_size=1000))
    assert [m.sequence for m in listed.messages] == list(range(1, 51))
    assert listed.messages[0].word_count == 3
    window = await transcripts.ListMessages(pb.ListMessagesRequest(parent=session.name, last_n=20))
    assert [m.sequence for m in window.messages] == list(range(31, 51))
    got = await transcripts.GetSession(pb.GetSessionRequest(name=session.name))
    assert got.session.last_durable_sequence == 50 and got.session.message_count == 50


async def test_a_reconnecting_gateway_resumes_where_the_durable_record_ends(transcripts):
    session = await new_session(transcripts)
    first = Gateway(transcripts, session.name)
    await first.read()
    first.send(*(utterance(n) for n in range(1, 11)))
    await first.acks_until(10)
    first.call.cancel()  # the gateway's connection dies

    second = Gateway(transcripts, session.name, last_known=10)
    opened = (await second.read()).opened
    assert opened.last_durable_sequence == 10
    second.send(*(utterance(n) for n in range(8, 16)))  # it resends what it was unsure of, then goes on
    acks = await second.acks_until(15)
    assert [(a.sequence, a.duplicate) for a in acks] == [(n, n <= 10) for n in range(8, 16)]
    second.close()
    await second.call.code()
    listed = await transcripts.ListMessages(pb.ListMessagesRequest(parent=session.name, page_size=100))
    assert [m.sequence for m in listed.messages] == list(range(1, 16))


async def test_a_newer_stream_takes_over_and_the_older_ends_aborted(transcripts):
    session = await new_session(transcripts)
    older = Gateway(transcripts, session.name)
    await older.read()
    older.send(utterance(1))
    await older.acks_until(1)
    newer = Gateway(transcripts, session.name, last_known=1)
    assert (await newer.read()).opened.last_durable_sequence == 1
    assert await older.call.code() == grpc.StatusCode.ABORTED
    newer.send(utterance(2))
    await newer.acks_until(2)
    newer.close()


async def test_commands_reach_the_live_stream_and_are_acknowledged(transcripts):
    session = await new_session(transcripts)
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    sent = (await transcripts.SendCommand(pb.SendCommandRequest(parent=session.name, command=pb.Command(
        type=pb.COMMAND_TYPE_CURVEBALL, text="Your CFO just froze the budget", label="Budget freeze")))).command
    frame = await gateway.read()
    assert frame.command.name == sent.name and frame.command.text == "Your CFO just froze the budget"
    gateway.send(pb.StreamSessionRequest(command_ack=pb.CommandAck(command=sent.name)))
    gateway.send(utterance(1))
    await gateway.acks_until(1)  # the ack of the command was handled before this utterance
    stored = (await transcripts.GetCommand(pb.GetCommandRequest(name=sent.name))).command
    assert stored.state == pb.COMMAND_STATE_ACKNOWLEDGED and stored.delivery_count == 1
    gateway.close()


async def test_a_command_sent_on_the_replica_holding_the_stream_reaches_it_with_no_statement_after_its_commit(
        transcripts, engine):
    """The command is stored as delivered and handed to the live stream as its transaction commits: on its way to the
    gateway it waits on no round trip to the database, and its NOTIFY, coming back, finds it sent. The gateway gets it
    as it was sent."""
    session = await new_session(transcripts)
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    with statements_run(engine) as ran:
        sent = (await transcripts.SendCommand(pb.SendCommandRequest(parent=session.name, command=pb.Command(
            type=pb.COMMAND_TYPE_CURVEBALL, text="Your CFO just froze the budget")))).command
        frame = await gateway.read()
    assert commands_touched_after_the_commit(ran, "INSERT INTO transcript.commands") == []
    assert frame.command == sent
    stored = (await transcripts.GetCommand(pb.GetCommandRequest(name=sent.name))).command
    assert (stored.state, stored.delivery_count) == (pb.COMMAND_STATE_DELIVERED, 1)
    # The command's NOTIFY put nothing more on the stream: the next command is the next frame.
    marker = (await transcripts.SendCommand(pb.SendCommandRequest(parent=session.name, command=pb.Command(
        type=pb.COMMAND_TYPE_DIFFICULTY_CHANGE, new_difficulty=2)))).command
    assert (await gateway.read()).command.name == marker.name
    gateway.close()


async def test_unacknowledged_commands_are_sent_again_on_the_next_open(transcripts):
    session = await new_session(transcripts)
    sent = (await transcripts.SendCommand(pb.SendCommandRequest(parent=session.name, command=pb.Command(
        type=pb.COMMAND_TYPE_DIFFICULTY_CHANGE, new_difficulty=4)))).command
    gateway = Gateway(transcripts, session.name)
    opened = (await gateway.read()).opened
    assert [c.name for c in opened.pending_commands] == [sent.name]
    gateway.call.cancel()
    again = Gateway(transcripts, session.name)
    assert [c.name for c in (await again.read()).opened.pending_commands] == [sent.name]
    again.close()


async def test_ending_the_session_ends_its_live_stream(transcripts):
    session = await new_session(transcripts)
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    gateway.send(utterance(1))
    await gateway.acks_until(1)
    ended = (await transcripts.EndSession(pb.EndSessionRequest(name=session.name, reason="call over"))).session
    assert ended.state == pb.SESSION_STATE_ENDED
    frame = await gateway.read()
    assert frame.ended.session.state == pb.SESSION_STATE_ENDED
    assert await gateway.call.code() == grpc.StatusCode.OK


async def _reason(call) -> str:
    status = await rpc_status.aio.from_call(call)
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


async def test_an_admitted_stream_sends_its_headers_before_it_reads_a_frame(transcripts):
    call = transcripts.StreamSession()
    await call.initial_metadata()
    assert not call.done()
    call.cancel()


async def test_a_stream_must_open_first(transcripts):
    async def requests():
        yield utterance(1)

    call = transcripts.StreamSession(requests())
    assert await call.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await _reason(call) == "STREAM_NOT_OPEN"


@pytest.mark.parametrize(
    ("bad", "code", "reason"),
    [
        (utterance(2, text=""), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (utterance(2, text="x" * 4001), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (utterance(2, role=pb.ROLE_UNSPECIFIED), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (utterance(2, role=7), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (utterance(0), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (utterance(3), grpc.StatusCode.FAILED_PRECONDITION, "SEQUENCE_GAP"),
        (pb.StreamSessionRequest(open=pb.StreamOpen(session="sessions/x")), grpc.StatusCode.FAILED_PRECONDITION,
         "STREAM_ALREADY_OPEN"),
        (pb.StreamSessionRequest(utterance=pb.Utterance(sequence=2, role=pb.ROLE_USER, text="hi",
                                                        spoken_time={"seconds": 1, "nanos": -5})),
         grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        (pb.StreamSessionRequest(command_ack=pb.CommandAck(command="sessions/x/commands/none")),
         grpc.StatusCode.NOT_FOUND, "COMMAND_NOT_FOUND"),
    ],
)
async def test_bad_frames_end_the_stream_after_acking_what_came_before(transcripts, bad, code, reason):
    session = await new_session(transcripts)
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    gateway.send(utterance(1, "before the bad frame"))
    await gateway.acks_until(1)
    gateway.send(bad)
    assert await gateway.call.code() == code
    assert await _reason(gateway.call) == reason
    listed = await transcripts.ListMessages(pb.ListMessagesRequest(parent=session.name))
    assert [m.text for m in listed.messages] == ["before the bad frame"]


async def test_a_conflicting_resend_is_refused(transcripts):
    session = await new_session(transcripts)
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    gateway.send(utterance(1, "original"))
    await gateway.acks_until(1)
    gateway.send(utterance(1, "something else"))
    assert await gateway.call.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_unknown_and_ended_sessions_cannot_be_streamed(transcripts):
    unknown = Gateway(transcripts, "sessions/no-such-call")
    assert await unknown.call.code() == grpc.StatusCode.NOT_FOUND
    session = await new_session(transcripts)
    await transcripts.EndSession(pb.EndSessionRequest(name=session.name))
    ended = Gateway(transcripts, session.name)
    assert await ended.call.code() == grpc.StatusCode.FAILED_PRECONDITION
