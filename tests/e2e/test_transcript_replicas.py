"""Two transcript replicas over one database: commands, takeovers and session ends cross replicas through
PostgreSQL NOTIFY, whichever replica holds the live stream. Every wait is on a frame or a status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest_asyncio
from sparring.transcript.v1 import handoff_service_pb2 as hb
from sparring.transcript.v1 import handoff_service_pb2_grpc, transcript_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as pb

from devtools.gateway import Gateway
from svckit.db import make_engine
from tests.builders import new_persona
from tests.e2e.test_persona_api import create
from tests.e2e.transcript_checks import all_rows, rejected, session_id, stream_ended_with
from tests.e2e.transcript_fixtures import new_session, utterance
from tests.security import ORGANIZATION, secure_channel
from transcript_svc.app import build
from transcript_svc.service_layer.live import LiveStreams
from transcript_svc.service_layer.transcripts import Transcripts


@dataclass
class Replica:
    app: object
    channel: grpc.aio.Channel
    stub: transcript_service_pb2_grpc.TranscriptServiceStub


@pytest_asyncio.fixture(scope="module")
async def replicas(database_url, transcript_schema, transcript_settings) -> AsyncIterator[tuple[Replica, Replica]]:
    """Two replicas, each with its own engine, committer and NOTIFY listener, as two processes would have."""
    started, engines = [], []
    for _ in range(2):
        engine = make_engine(database_url, pool_size=5)
        engines.append(engine)
        app = await build(transcript_settings(), engine)
        await app.start()
        channel = secure_channel(app.address)
        started.append(Replica(app, channel, transcript_service_pb2_grpc.TranscriptServiceStub(channel)))
    yield started[0], started[1]
    for replica in started:
        await replica.channel.close()
        await replica.app.stop(grace=1)
    for engine in engines:
        await engine.dispose()


def command(text: str) -> pb.Command:
    return pb.Command(type=pb.COMMAND_TYPE_CONTEXT_INJECTION, text=text)


async def send_command(stub, session: pb.Session, text: str) -> pb.Command:
    return (await stub.SendCommand(pb.SendCommandRequest(parent=session.name, command=command(text)))).command


async def next_command(gateway: Gateway) -> pb.Command:
    """The next command frame (acks in between are skipped)."""
    while True:
        frame = await gateway.read()
        if frame.WhichOneof("frame") == "command":
            return frame.command


async def remaining_frames(gateway: Gateway) -> list[pb.StreamSessionResponse]:
    """Every frame until the stream ends, whatever its status."""
    frames = []
    try:
        while (frame := await gateway.call.read()) is not grpc.aio.EOF:
            frames.append(frame)
    except grpc.aio.AioRpcError:
        pass
    return frames


async def test_a_command_sent_to_the_other_replica_reaches_the_live_stream(replicas):
    a, b = replicas
    session = await new_session(a.stub)
    gateway = Gateway(a.stub, session.name)
    assert (await gateway.read()).opened.last_durable_sequence == 0

    sent = await send_command(b.stub, session, "Mention the budget freeze")
    delivered = await next_command(gateway)
    assert delivered.name == sent.name and delivered.text == "Mention the budget freeze"
    gateway.send(pb.StreamSessionRequest(command_ack=pb.CommandAck(command=sent.name)), utterance(1))
    await gateway.acks_until(1)  # the command ack went before the utterance
    stored = (await b.stub.GetCommand(pb.GetCommandRequest(name=sent.name))).command
    assert (stored.state, stored.delivery_count) == (pb.COMMAND_STATE_ACKNOWLEDGED, 1)

    # Several commands through both replicas arrive in the order they were stored.
    names = [(await send_command(stub, session, f"hint {n}")).name for n, stub in enumerate([b.stub, a.stub, b.stub])]
    got = [(await next_command(gateway)).name for _ in names]
    assert sorted(got) == sorted(names)
    gateway.close()
    assert await gateway.call.code() == grpc.StatusCode.OK


async def test_a_command_sent_with_no_live_stream_waits_for_the_next_open_on_any_replica(replicas):
    a, b = replicas
    session = await new_session(a.stub)
    sent = await send_command(a.stub, session, "waits for the gateway")
    gateway = Gateway(b.stub, session.name)
    opened = (await gateway.read()).opened
    assert [c.name for c in opened.pending_commands] == [sent.name]
    gateway.send(pb.StreamSessionRequest(command_ack=pb.CommandAck(command=sent.name)), utterance(1))
    await gateway.acks_until(1)
    gateway.close()
    assert await gateway.call.code() == grpc.StatusCode.OK
    again = Gateway(a.stub, session.name, last_known=1)
    assert list((await again.read()).opened.pending_commands) == []
    again.close()
    assert await again.call.code() == grpc.StatusCode.OK


async def test_a_stream_opened_on_the_other_replica_takes_over(replicas, engine):
    a, b = replicas
    session = await new_session(a.stub)
    older = Gateway(a.stub, session.name)
    await older.read()
    older.send(*(utterance(n) for n in range(1, 6)))
    await older.acks_until(5)
    older.send(*(utterance(n) for n in range(6, 11)))  # in flight when the newer stream opens

    newer = Gateway(b.stub, session.name, last_known=5)
    resume = (await newer.read()).opened.last_durable_sequence
    assert 5 <= resume <= 10

    # The older stream acks what it had accepted, then ends ABORTED / STREAM_TAKEN_OVER.
    acked_on_older = []
    for frame in await remaining_frames(older):
        assert frame.WhichOneof("frame") == "acks", frame
        acked_on_older += [a.sequence for a in frame.acks.acks]
    assert acked_on_older == list(range(6, 6 + len(acked_on_older)))
    ending = await stream_ended_with(older.call, grpc.StatusCode.ABORTED)
    assert ending.reason == "STREAM_TAKEN_OVER"

    # The newer stream resends what it did not see acked and goes on; commands now come to it.
    newer.send(*(utterance(n) for n in range(resume + 1, 13)))
    acks = await newer.acks_until(12)
    highest_acked_on_older = 5 + len(acked_on_older)
    assert [(x.sequence, x.duplicate) for x in acks] == [
        (n, n <= highest_acked_on_older) for n in range(resume + 1, 13)]
    sent = await send_command(a.stub, session, "after the takeover")
    assert (await next_command(newer)).name == sent.name
    newer.close()
    assert await newer.call.code() == grpc.StatusCode.OK

    listed = await b.stub.ListMessages(pb.ListMessagesRequest(parent=session.name, page_size=100))
    assert [m.sequence for m in listed.messages] == list(range(1, 13))
    assert await all_rows(engine, "SELECT count(*), count(DISTINCT sequence) FROM transcript.messages "
                                  "WHERE session_id = :id", id=session_id(session.name)) == [(12, 12)]


async def test_taking_back_a_session_on_the_first_replica_works_the_same(replicas):
    a, b = replicas
    session = await new_session(a.stub)
    first = Gateway(a.stub, session.name)
    await first.read()
    second = Gateway(b.stub, session.name)
    await second.read()
    assert (await stream_ended_with(first.call, grpc.StatusCode.ABORTED)).reason == "STREAM_TAKEN_OVER"
    third = Gateway(a.stub, session.name)
    await third.read()
    assert (await stream_ended_with(second.call, grpc.StatusCode.ABORTED)).reason == "STREAM_TAKEN_OVER"
    sent = await send_command(b.stub, session, "to the third")
    assert (await next_command(third)).name == sent.name
    third.send(utterance(1))
    await third.acks_until(1)
    third.close()
    assert await third.call.code() == grpc.StatusCode.OK


async def test_ending_the_session_on_the_other_replica_ends_the_live_stream(replicas, engine):
    a, b = replicas
    session = await new_session(a.stub)
    gateway = Gateway(a.stub, session.name)
    await gateway.read()
    gateway.send(*(utterance(n) for n in range(1, 4)))
    await gateway.acks_until(3)

    ended = (await b.stub.EndSession(pb.EndSessionRequest(name=session.name, reason="interviewer hung up"))).session
    frame = await gateway.read()
    assert frame.WhichOneof("frame") == "ended", frame
    assert frame.ended.session.state == pb.SESSION_STATE_ENDED
    assert frame.ended.session.last_durable_sequence == 3
    assert frame.ended.session.end_reason == "interviewer hung up"
    assert frame.ended.session.etag == ended.etag
    assert await gateway.call.read() is grpc.aio.EOF
    assert await gateway.call.code() == grpc.StatusCode.OK

    for stub in (a.stub, b.stub):
        reopened = Gateway(stub, session.name, last_known=3)
        assert (await stream_ended_with(reopened.call, grpc.StatusCode.FAILED_PRECONDITION)).reason == "SESSION_ENDED"
    late = await rejected(a.stub.SendCommand(pb.SendCommandRequest(parent=session.name, command=command("late"))),
                          grpc.StatusCode.FAILED_PRECONDITION)
    assert late.reason == "SESSION_ENDED"
    assert await all_rows(engine, "SELECT kind FROM transcript.outbox WHERE session_id = :id AND kind = 'audit'",
                          id=session_id(session.name)) == [("audit",)]


# --- what happens to a stream while it opens ------------------------------------------------------
#
# Between the commit that makes a stream the session's newest and the moment the replica starts acting
# on NOTIFY for it, another replica may end the session, send a command or open a newer stream. The
# hooks below hold a stream at exactly that point until the replica opening it has heard the NOTIFY.


@dataclass
class Hooked:
    a: Replica
    b: Replica
    interfere: object
    engine: object


@pytest_asyncio.fixture
async def opening_hook(database_url, transcript_schema, transcript_settings, monkeypatch):
    """(replica A whose NOTIFY handling is observed, replica B, ``interfere``): ``interfere(session, action)``
    makes A's next open of ``session`` run ``action`` after its commit, then wait until A has handled the
    NOTIFY ``action`` caused (``action`` returns the channel handler name and payload to wait for)."""
    engine = make_engine(database_url, pool_size=5)
    apps = []

    async def start() -> Replica:
        app = await build(transcript_settings(), engine)
        await app.start()
        channel = secure_channel(app.address)
        apps.append((app, channel))
        return Replica(app, channel, transcript_service_pb2_grpc.TranscriptServiceStub(channel))

    b = await start()  # built before the hooks: only A's handling is observed
    heard: list[tuple[str, str]] = []
    changed = asyncio.Condition()
    def observing(name: str):
        original = getattr(LiveStreams, name)

        def observed(self, payload: str) -> None:
            original(self, payload)
            heard.append((name, payload))
            asyncio.get_running_loop().create_task(_notify_all(changed))
        return observed

    for name in ("on_command", "on_stream_opened", "on_session_change"):
        monkeypatch.setattr(LiveStreams, name, observing(name))
    a = await start()

    plans: dict[str, object] = {}
    original_open = Transcripts.open_stream

    async def open_stream(self, caller, session_id, last_known_sequence):
        grant = await original_open(self, caller, session_id, last_known_sequence)
        action = plans.pop(session_id, None)
        if action is not None:
            expected = await action()
            async with changed:
                await asyncio.wait_for(changed.wait_for(lambda: expected in heard), timeout=10)
        return grant

    monkeypatch.setattr(Transcripts, "open_stream", open_stream)

    def interfere(session: pb.Session, action) -> None:
        plans[session_id(session.name)] = action

    yield Hooked(a, b, interfere, engine)
    for app, channel in apps:
        await channel.close()
        await app.stop(grace=1)
    await engine.dispose()


async def _notify_all(condition: asyncio.Condition) -> None:
    async with condition:
        condition.notify_all()


async def test_a_session_ended_while_its_stream_opens_ends_the_stream(opening_hook):
    a, b, interfere = opening_hook.a, opening_hook.b, opening_hook.interfere
    session = await new_session(a.stub)

    async def end_it():
        await b.stub.EndSession(pb.EndSessionRequest(name=session.name))
        return "on_session_change", f"ended:{session_id(session.name)}:{ORGANIZATION}"

    interfere(session, end_it)
    gateway = Gateway(a.stub, session.name)
    gateway.send(utterance(1))
    # It ends as an open of an ended session does, before `opened`: the gateway never streams into it.
    frames = await asyncio.wait_for(remaining_frames(gateway), timeout=10)
    assert frames == []
    ending = await stream_ended_with(gateway.call, grpc.StatusCode.FAILED_PRECONDITION)
    assert ending.reason == "SESSION_ENDED"
    listed = await b.stub.ListMessages(pb.ListMessagesRequest(parent=session.name))
    assert list(listed.messages) == [] and listed.last_durable_sequence == 0


async def test_a_command_sent_while_the_stream_opens_is_delivered_on_it(opening_hook):
    a, b, interfere = opening_hook.a, opening_hook.b, opening_hook.interfere
    session = await new_session(a.stub)
    sent: list[pb.Command] = []

    async def send_one():
        sent.append(await send_command(b.stub, session, "sent while opening"))
        return "on_command", f"{session_id(session.name)}:{sent[0].name.split('/')[-1]}:{ORGANIZATION}"

    interfere(session, send_one)
    gateway = Gateway(a.stub, session.name)
    opened = (await gateway.read()).opened
    assert list(opened.pending_commands) == []
    assert (await asyncio.wait_for(next_command(gateway), timeout=10)).name == sent[0].name
    gateway.close()
    assert await gateway.call.code() == grpc.StatusCode.OK


async def test_a_newer_stream_opened_while_the_older_opens_takes_over(opening_hook):
    a, b, interfere = opening_hook.a, opening_hook.b, opening_hook.interfere
    session = await new_session(a.stub)
    newer: list[Gateway] = []

    async def open_newer():
        newer.append(Gateway(b.stub, session.name))
        await newer[0].read()
        epoch = await _epoch(opening_hook.engine, session)
        return "on_stream_opened", f"{session_id(session.name)}:{epoch}:{ORGANIZATION}"

    interfere(session, open_newer)
    older = Gateway(a.stub, session.name)
    assert await asyncio.wait_for(remaining_frames(older), timeout=10) == []
    ending = await stream_ended_with(older.call, grpc.StatusCode.ABORTED)
    assert ending.reason == "STREAM_TAKEN_OVER"
    sent = await send_command(a.stub, session, "to the newer")
    assert (await next_command(newer[0])).name == sent.name
    newer[0].close()
    assert await newer[0].call.code() == grpc.StatusCode.OK



async def _epoch(engine, session: pb.Session) -> int:
    rows = await all_rows(engine, "SELECT stream_epoch FROM transcript.sessions WHERE id = :id",
                          id=session_id(session.name))
    return rows[0][0]


@pytest_asyncio.fixture
async def deaf_to_commands(database_url, transcript_schema, transcript_settings, monkeypatch):
    """(a replica that hears the NOTIFY of every command but acts on none, the payloads it heard, a condition
    notified at each)."""
    heard: list[str] = []
    changed = asyncio.Condition()

    def ignored(self, payload: str) -> None:
        heard.append(payload)
        asyncio.get_running_loop().create_task(_notify_all(changed))

    monkeypatch.setattr(LiveStreams, "on_command", ignored)
    engine = make_engine(database_url, pool_size=5)
    app = await build(transcript_settings(), engine)
    await app.start()
    channel = secure_channel(app.address)
    yield channel, heard, changed
    await channel.close()
    await app.stop(grace=1)
    await engine.dispose()


async def test_a_command_and_a_handoff_sent_on_the_replica_holding_the_stream_reach_it_without_notify(
        deaf_to_commands, personas, catalogue):
    channel, heard, changed = deaf_to_commands
    stub = transcript_service_pb2_grpc.TranscriptServiceStub(channel)
    handoffs = handoff_service_pb2_grpc.HandoffServiceStub(channel)
    cfo = await create(personas, new_persona(display_name="Dana Ortiz", role="CFO"))
    session = await new_session(stub)
    gateway = Gateway(stub, session.name)
    await gateway.read()

    sent = await send_command(stub, session, "Mention the budget freeze")
    assert (await asyncio.wait_for(next_command(gateway), timeout=10)).name == sent.name
    handoff = (await handoffs.StartHandoff(hb.StartHandoffRequest(
        parent=session.name, handoff=hb.Handoff(to_persona=cfo.name, reason="Budget questions")))).handoff
    delivered = await asyncio.wait_for(next_command(gateway), timeout=10)
    assert (delivered.name, delivered.type) == (handoff.command, pb.COMMAND_TYPE_HANDOFF)
    # Both NOTIFYs came back to the replica, which ignored them: the stream had each command already.
    payloads = [f"{session_id(session.name)}:{name.split('/')[-1]}:{ORGANIZATION}" for name in (sent.name,
                                                                                                 handoff.command)]
    async with changed:
        await asyncio.wait_for(changed.wait_for(lambda: all(p in heard for p in payloads)), timeout=10)
    gateway.close()
    assert await gateway.call.code() == grpc.StatusCode.OK
