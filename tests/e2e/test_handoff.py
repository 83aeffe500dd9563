"""A live call handed from one persona to another through the public API: the packet, the HANDOFF command down
the gateway's stream (acknowledged, resent on resume), the session's current persona, and every bad input."""

from __future__ import annotations

import grpc
import pytest_asyncio
import sqlalchemy as sa
from google.protobuf import field_mask_pb2
from sparring.analysis.v1 import analysis_service_pb2 as analysis_pb
from sparring.persona.v1 import memory_service_pb2 as mb
from sparring.persona.v1 import memory_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import handoff_service_pb2 as hb
from sparring.transcript.v1 import handoff_service_pb2_grpc, transcript_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as pb

from devtools.gateway import Gateway
from tests.builders import new_persona, uid
from tests.e2e.test_persona_api import create
from tests.e2e.transcript_checks import commands_touched_after_the_commit, rejected, statements_run
from tests.e2e.transcript_fixtures import new_session, streamed_call, utterance
from tests.security import OTHER_ORGANIZATION, secure_channel, token

SARAH = "personas/sarah-chen"
REASON = "The candidate asked who signs off on the budget"


@pytest_asyncio.fixture
async def analysed(wired_transcript):
    """The transcript and handoff stubs of a transcript replica wired to the analysis service."""
    async with secure_channel(wired_transcript) as channel:
        yield (transcript_service_pb2_grpc.TranscriptServiceStub(channel),
               handoff_service_pb2_grpc.HandoffServiceStub(channel))


@pytest_asyncio.fixture(scope="session")
async def cfo(personas, catalogue) -> persona_pb.Persona:
    """A second persona to hand calls to; the catalogue holds the scenario of the test sessions."""
    return await create(personas, new_persona(display_name="Dana Ortiz", role="CFO"))


@pytest_asyncio.fixture(scope="session")
async def inactive_persona(personas) -> str:
    return (await create(personas, new_persona(active=False))).name


def start(session: str, to_persona: str, reason: str = REASON, fallbacks: tuple[str, ...] = (),
          **fields) -> hb.StartHandoffRequest:
    return hb.StartHandoffRequest(parent=session, handoff=hb.Handoff(to_persona=to_persona, reason=reason, **fields),
                                  fallback_personas=list(fallbacks))


async def started(handoffs, session: str, to_persona: str, **fields) -> hb.Handoff:
    return (await handoffs.StartHandoff(start(session, to_persona, **fields))).handoff


async def get(handoffs, name: str) -> hb.Handoff:
    return (await handoffs.GetHandoff(hb.GetHandoffRequest(name=name))).handoff


async def test_a_handoff_goes_down_the_live_stream_and_the_new_persona_plays_from_its_acknowledgement(
        transcripts, handoffs, cfo):
    session = await new_session(transcripts)
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    gateway.send(utterance(1, "Who decides on the budget here?"),
                 utterance(2, "That would be our CFO.", role=pb.ROLE_ASSISTANT))
    await gateway.acks_until(2)

    handoff = await started(handoffs, session.name, cfo.name, candidate_preferences=["written follow-ups"])
    assert (handoff.state, handoff.from_persona, handoff.to_persona, handoff.accepted_persona) == (
        hb.HANDOFF_STATE_PENDING, SARAH, cfo.name, cfo.name)
    assert "Candidate (#1): Who decides on the budget here?" in handoff.conversation_summary
    assert "Persona (#2): That would be our CFO." in handoff.conversation_summary
    assert "You are taking over this live call from Sarah Chen. Reason: " + REASON in handoff.system_prompt
    assert "- written follow-ups" in handoff.system_prompt and "Dana Ortiz" in handoff.system_prompt
    assert handoff.first_message.startswith("Hi, Dana Ortiz here, joining from Sarah Chen's side")
    current = (await transcripts.GetSession(pb.GetSessionRequest(name=session.name))).session
    assert (current.persona, current.current_persona, current.etag != session.etag) == (SARAH, cfo.name, True)

    frame = await gateway.read()
    assert frame.command.type == pb.COMMAND_TYPE_HANDOFF and frame.command.name == handoff.command
    assert frame.command.handoff == handoff and frame.command.text == handoff.first_message
    gateway.send(pb.StreamSessionRequest(command_ack=pb.CommandAck(command=handoff.command)),
                 utterance(3, "Dana, what would you need to see?"))
    await gateway.acks_until(3)  # the command's ack was handled before this utterance
    accepted = await get(handoffs, handoff.name)
    assert (accepted.state, accepted.first_sequence) == (hb.HANDOFF_STATE_ACCEPTED, 3)

    await transcripts.EndSession(pb.EndSessionRequest(name=session.name))
    assert (await get(handoffs, handoff.name)).state == hb.HANDOFF_STATE_COMPLETED
    listed = (await handoffs.ListHandoffs(hb.ListHandoffsRequest(parent=session.name))).handoffs
    assert [h.name for h in listed] == [handoff.name]


async def test_an_unacknowledged_handoff_is_sent_again_on_resume_with_the_pending_commands_in_its_packet(
        transcripts, handoffs, cfo):
    session = await new_session(transcripts)
    curveball = (await transcripts.SendCommand(pb.SendCommandRequest(parent=session.name, command=pb.Command(
        type=pb.COMMAND_TYPE_CURVEBALL, text="Your board just froze new spend")))).command
    handoff = await started(handoffs, session.name, cfo.name)
    assert [(a.kind, a.text, a.source) for a in handoff.pending_actions] == [
        (hb.PENDING_ACTION_KIND_COMMAND, "Your board just froze new spend", curveball.name)]
    assert "- (command) Your board just froze new spend" in handoff.system_prompt

    for _ in range(2):  # the gateway drops before acknowledging it, then comes back
        gateway = Gateway(transcripts, session.name)
        opened = (await gateway.read()).opened
        assert [c.name for c in opened.pending_commands] == [curveball.name, handoff.command]
        assert opened.pending_commands[1].handoff.system_prompt == handoff.system_prompt
        gateway.close()
        await gateway.call.code()

    await transcripts.EndSession(pb.EndSessionRequest(name=session.name))
    assert (await get(handoffs, handoff.name)).state == hb.HANDOFF_STATE_FAILED


async def test_a_handoff_sends_its_last_writes_and_announcements_in_one_statement(
        transcripts, handoffs, cfo, engine):
    """The writes of a handoff that nothing reads back (the session's new persona, the watchers' reading queued in
    the outbox, the guardrail check that let it through) and what it announces at its commit (its command, to the
    replica holding the call's stream; its reading, to the outbox) reach the database in one statement."""
    session = await streamed_call(transcripts, [(pb.ROLE_USER, "Who signs off on the budget?")])
    announcing: list[str] = []

    def on_execute(_connection, _cursor, statement: str, *_) -> None:
        if "pg_notify(" in statement:
            announcing.append(statement)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        await started(handoffs, session, cfo.name)
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
    assert [statement.count("pg_notify(") for statement in announcing] == [2]
    assert [f"{write} transcript.{table}" in announcing[0]
            for write, table in (("UPDATE", "sessions"), ("INSERT INTO", "outbox"),
                                 ("INSERT INTO", "guardrail_checks"))] == [True, True, True]


async def test_a_handoff_started_on_the_replica_holding_the_stream_reaches_it_with_no_statement_after_its_commit(
        transcripts, handoffs, cfo, engine):
    """The handoff and its command, stored as delivered, ride the transaction's last statement; the command goes to
    the live stream as the transaction commits, not after its NOTIFY came back and a statement marked it."""
    session = await new_session(transcripts)
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    with statements_run(engine) as ran:
        handoff = await started(handoffs, session.name, cfo.name)
        frame = await gateway.read()
    assert frame.command.name == handoff.command and frame.command.handoff == handoff
    (last,) = [statement for statement in ran if "INSERT INTO transcript.handoffs" in statement]
    assert "INSERT INTO transcript.commands" in last and "pg_notify(" in last
    assert commands_touched_after_the_commit(ran, "INSERT INTO transcript.handoffs") == []
    stored = (await transcripts.GetCommand(pb.GetCommandRequest(name=handoff.command))).command
    assert (stored.state, stored.delivery_count) == (pb.COMMAND_STATE_DELIVERED, 1)
    gateway.close()
    assert await gateway.call.code() == grpc.StatusCode.OK


async def test_the_packet_retells_the_last_turns_in_call_order_and_a_handoff_id_is_taken_once(
        transcripts, handoffs, cfo, personas):
    session = await new_session(transcripts)
    sent = [(await transcripts.SendCommand(pb.SendCommandRequest(parent=session.name, command=pb.Command(
        type=pb.COMMAND_TYPE_CURVEBALL, text=text)))).command
            for text in ("Your board just froze new spend", "Bring up last quarter's audit")]
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    turns = range(1, 12)
    gateway.send(*(utterance(n, f"Turn number {n}.", role=pb.ROLE_USER if n % 2 else pb.ROLE_ASSISTANT)
                   for n in turns))
    await gateway.acks_until(turns[-1])

    request = start(session.name, cfo.name)
    request.handoff_id = "to-finance"
    handoff = (await handoffs.StartHandoff(request)).handoff
    assert handoff.name == f"{session.name}/handoffs/to-finance"
    assert handoff.conversation_summary.splitlines() == [
        f"{'Candidate' if n % 2 else 'Persona'} (#{n}): Turn number {n}." for n in turns[-8:]]
    assert [(a.kind, a.text, a.source) for a in handoff.pending_actions] == [
        (hb.PENDING_ACTION_KIND_COMMAND, c.text, c.name) for c in sent]
    while (await gateway.read()).command.name != handoff.command:
        pass
    gateway.send(pb.StreamSessionRequest(command_ack=pb.CommandAck(command=handoff.command)),
                 utterance(turns[-1] + 1, "Dana, what would you need to see?"))
    await gateway.acks_until(turns[-1] + 1)  # the handoff is accepted: none is pending

    request = start(session.name, (await create(personas, new_persona(display_name="Lee Park", role="CTO"))).name)
    request.handoff_id = "to-finance"
    refused = await rejected(handoffs.StartHandoff(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert (refused.reason, refused.fields) == ("HANDOFF_EXISTS", ["handoff_id"])
    await unchanged(transcripts, handoffs, session.name, 1, len(sent) + 1)
    current = (await transcripts.GetSession(pb.GetSessionRequest(name=session.name))).session
    assert current.current_persona == cfo.name
    gateway.close()


async def test_the_packet_carries_what_the_outgoing_persona_remembers_of_the_candidate(
        transcripts, handoffs, cfo, channel):
    candidate = uid()
    memories = memory_service_pb2_grpc.MemoryServiceStub(channel)
    await memories.UpdateWorkingMemory(mb.UpdateWorkingMemoryRequest(
        working_memory=mb.WorkingMemory(name=f"{SARAH}/candidates/{candidate}/workingMemory",
                                        scratchpad={"budget": "120k approved for Q3"},
                                        active_goals=["get a pilot date"]),
        update_mask=field_mask_pb2.FieldMask(paths=["scratchpad", "active_goals"])))
    session = await new_session(transcripts, candidate=f"candidates/{candidate}")

    handoff = await started(handoffs, session.name, cfo.name)
    assert (dict(handoff.working_memory), list(handoff.active_goals)) == (
        {"budget": "120k approved for Q3"}, ["get a pilot date"])
    assert "- budget: 120k approved for Q3" in handoff.system_prompt
    assert "- get a pilot date" in handoff.system_prompt


async def test_a_fallback_takes_the_call_when_the_persona_asked_for_cannot(
        transcripts, handoffs, cfo, deleted_persona, inactive_persona):
    session = await new_session(transcripts)
    handoff = await started(handoffs, session.name, deleted_persona, fallbacks=(inactive_persona, cfo.name))
    assert (handoff.to_persona, handoff.accepted_persona) == (deleted_persona, cfo.name)
    current = (await transcripts.GetSession(pb.GetSessionRequest(name=session.name))).session
    assert current.current_persona == cfo.name


async def unchanged(transcripts, handoffs, session: str, handoff_count: int, command_count: int) -> None:
    current = (await transcripts.GetSession(pb.GetSessionRequest(name=session))).session
    listed = (await handoffs.ListHandoffs(hb.ListHandoffsRequest(parent=session))).handoffs
    commands = (await transcripts.ListCommands(pb.ListCommandsRequest(parent=session))).commands
    assert (len(listed), len(commands)) == (handoff_count, command_count)
    if not handoff_count:
        assert current.current_persona == SARAH


async def test_bad_handoffs_are_refused_naming_the_field_and_change_nothing(
        transcripts, handoffs, cfo, deleted_persona, inactive_persona):
    session = (await new_session(transcripts)).name

    refused = await rejected(handoffs.StartHandoff(start(session, SARAH)), grpc.StatusCode.INVALID_ARGUMENT)
    assert (refused.reason, refused.fields) == ("HANDOFF_TO_SAME_PERSONA", ["handoff.to_persona"])
    refused = await rejected(handoffs.StartHandoff(start(session, "")), grpc.StatusCode.INVALID_ARGUMENT)
    assert refused.fields == ["handoff.to_persona"]
    refused = await rejected(handoffs.StartHandoff(start(session, cfo.name, reason=" ",
                                                         candidate_preferences=["x" * 201])),
                             grpc.StatusCode.INVALID_ARGUMENT)
    assert refused.fields == ["handoff.reason", "handoff.candidate_preferences[0]"]
    refused = await rejected(handoffs.StartHandoff(start(session, "people/dana")), grpc.StatusCode.INVALID_ARGUMENT)
    assert refused.fields == ["handoff.to_persona"]
    for target in (deleted_persona, inactive_persona, "personas/nobody-" + uid()):
        refused = await rejected(handoffs.StartHandoff(start(session, target)), grpc.StatusCode.FAILED_PRECONDITION)
        assert (refused.reason, refused.info.metadata["field"]) == ("HANDOFF_TARGET_UNAVAILABLE", "handoff.to_persona")
        assert target in refused.error.details()
    refused = await rejected(handoffs.StartHandoff(start(session, deleted_persona, fallbacks=(inactive_persona,))),
                             grpc.StatusCode.FAILED_PRECONDITION)
    assert "fallback_personas[0]" in refused.error.details()
    await unchanged(transcripts, handoffs, session, 0, 0)

    first = await started(handoffs, session, cfo.name)
    refused = await rejected(handoffs.StartHandoff(start(session, SARAH)), grpc.StatusCode.FAILED_PRECONDITION)
    assert (refused.reason, refused.info.metadata["handoff"]) == ("HANDOFF_PENDING", first.name)
    await unchanged(transcripts, handoffs, session, 1, 1)

    await transcripts.EndSession(pb.EndSessionRequest(name=session))
    refused = await rejected(handoffs.StartHandoff(start(session, SARAH)), grpc.StatusCode.FAILED_PRECONDITION)
    assert refused.reason == "SESSION_ENDED"
    await unchanged(transcripts, handoffs, session, 1, 1)


async def test_a_retried_handoff_is_started_once(transcripts, handoffs, cfo):
    session = (await new_session(transcripts)).name
    request = start(session, cfo.name)
    request.request_id = uid()
    first = (await handoffs.StartHandoff(request)).handoff
    assert (await handoffs.StartHandoff(request)).handoff == first
    await unchanged(transcripts, handoffs, session, 1, 1)


async def test_another_organizations_session_and_handoffs_are_not_found(transcripts, handoffs, cfo, connect,
                                                                        transcript_server):
    session = (await new_session(transcripts)).name
    handoff = await started(handoffs, session, cfo.name)
    other = handoff_service_pb2_grpc.HandoffServiceStub(
        connect(transcript_server, token("admin", organization=OTHER_ORGANIZATION)))
    for call in (other.StartHandoff(start(session, cfo.name)),
                 other.GetHandoff(hb.GetHandoffRequest(name=handoff.name)),
                 other.ListHandoffs(hb.ListHandoffsRequest(parent=session))):
        assert (await rejected(call, grpc.StatusCode.NOT_FOUND)).reason == "SESSION_NOT_FOUND"


async def test_a_handed_over_call_is_audited_per_persona_on_the_turns_each_played(
        transcripts, handoffs, analyses, cfo):
    session = await new_session(transcripts)
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    gateway.send(utterance(1, "Who signs off on this?"),
                 utterance(2, "I can walk you through our process but the budget sits with finance.",
                           role=pb.ROLE_ASSISTANT))
    await gateway.acks_until(2)
    handoff = await started(handoffs, session.name, cfo.name)
    assert (await gateway.read()).command.name == handoff.command
    gateway.send(pb.StreamSessionRequest(command_ack=pb.CommandAck(command=handoff.command)),
                 utterance(3, "What would you need to approve it?"),
                 utterance(4, "Show me payback.", role=pb.ROLE_ASSISTANT),
                 utterance(5, "Within two quarters."),
                 utterance(6, "Then send numbers.", role=pb.ROLE_ASSISTANT))
    await gateway.acks_until(6)
    gateway.close()
    await transcripts.EndSession(pb.EndSessionRequest(name=session.name))

    audit = (await analyses.AuditSession(analysis_pb.AuditSessionRequest(session=session.name))).audit
    assert (audit.persona, audit.persona_turn_count, audit.avg_words_per_turn) == (SARAH, 1, 13)
    listed = (await analyses.ListPersonaAudits(analysis_pb.ListPersonaAuditsRequest(session=session.name))).audits
    by_persona = {a.persona: a for a in listed}
    assert set(by_persona) == {SARAH, cfo.name}
    played = by_persona[cfo.name]
    assert (played.persona_display_name, played.persona_turn_count, played.avg_words_per_turn) == (
        "Dana Ortiz", 2, 3)
    assert played.difficulty == cfo.difficulty


async def test_the_calls_watchers_get_a_reading_as_the_new_persona_takes_over(analysed, analyses, cfo):
    transcripts, handoffs = analysed
    session = await new_session(transcripts)
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    gateway.send(utterance(1, "Who decides on the budget here?"),
                 utterance(2, "Our CFO does.", role=pb.ROLE_ASSISTANT))
    await gateway.acks_until(2)
    watch = analyses.WatchSession(analysis_pb.WatchSessionRequest(session=session.name))
    assert (await watch.read()).snapshot.session == session.name

    await started(handoffs, session.name, cfo.name)
    reading = (await watch.read()).analysis
    assert (reading.trigger.source, reading.trigger.trigger_id, reading.window.last_sequence) == (
        analysis_pb.TRIGGER_SOURCE_HANDOFF, "handoff-2", 2)
    watch.cancel()
    gateway.close()


async def test_erasing_a_candidate_empties_what_its_handoff_packets_remembered(transcripts, handoffs, cfo, channel):
    candidate = uid()
    memories = memory_service_pb2_grpc.MemoryServiceStub(channel)
    await memories.UpdateWorkingMemory(mb.UpdateWorkingMemoryRequest(
        working_memory=mb.WorkingMemory(name=f"{SARAH}/candidates/{candidate}/workingMemory",
                                        scratchpad={"budget": "120k approved for Q3"}),
        update_mask=field_mask_pb2.FieldMask(paths=["scratchpad"])))
    session = await new_session(transcripts, candidate=f"candidates/{candidate}")
    handoff = await started(handoffs, session.name, cfo.name)
    assert "120k approved for Q3" in handoff.system_prompt

    await transcripts.ForgetCandidate(pb.ForgetCandidateRequest(candidate=f"candidates/{candidate}"))
    forgotten = await get(handoffs, handoff.name)
    command = (await transcripts.GetCommand(pb.GetCommandRequest(name=handoff.command))).command
    for packet in (forgotten, command.handoff):
        assert (dict(packet.working_memory), packet.system_prompt, packet.first_message) == ({}, "", "")
        assert packet.reason == handoff.reason
