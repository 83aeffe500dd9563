"""Sessions of two organizations, their interviewers and their gateways, through a real server: another
organization's session is not found exactly as a missing one is, ids are each organization's own, and only an
admin, a service or a participant of the session reads, ends, commands or streams it. No refusal changes
anything stored."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
import pytest_asyncio
from google.rpc import status_pb2
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from devtools.gateway import Gateway
from svckit.context import ORGANIZATION_METADATA_KEY
from tests.builders import uid
from tests.e2e.transcript_checks import all_rows, rejected, session_id, stream_ended_with
from tests.e2e.transcript_fixtures import new_session, utterance
from tests.security import ADMIN_SUBJECT, ORGANIZATION, OTHER_ORGANIZATION, token

NOT_FOUND = grpc.StatusCode.NOT_FOUND
DENIED = grpc.StatusCode.PERMISSION_DENIED
IVY, IAN = "ivy@acme", "ian@acme"  # interviewers
GATEWAY_1, GATEWAY_2 = "gateway-1@acme", "gateway-2@acme"
ACTING_FOR_ACME = ((ORGANIZATION_METADATA_KEY, ORGANIZATION),)


@dataclass(frozen=True)
class Callers:
    """The transcript service as each caller reaches it (stubs)."""

    admin: transcript_service_pb2_grpc.TranscriptServiceStub
    ivy: transcript_service_pb2_grpc.TranscriptServiceStub
    ian: transcript_service_pb2_grpc.TranscriptServiceStub
    gateway_1: transcript_service_pb2_grpc.TranscriptServiceStub
    gateway_2: transcript_service_pb2_grpc.TranscriptServiceStub
    service: transcript_service_pb2_grpc.TranscriptServiceStub  # acts for whom its calls' metadata names
    stranger: transcript_service_pb2_grpc.TranscriptServiceStub  # an admin of the other organization


@pytest_asyncio.fixture(scope="module")
async def callers(transcript_server, transcripts, connect, other_sarah) -> Callers:
    def stub(bearer: str) -> transcript_service_pb2_grpc.TranscriptServiceStub:
        return transcript_service_pb2_grpc.TranscriptServiceStub(connect(transcript_server, bearer))

    return Callers(
        admin=transcripts, ivy=stub(token("interviewer", subject=IVY)), ian=stub(token("interviewer", subject=IAN)),
        gateway_1=stub(token("gateway", subject=GATEWAY_1)), gateway_2=stub(token("gateway", subject=GATEWAY_2)),
        service=stub(token("service", organization="", subject="service:analysis")),
        stranger=stub(token("admin", organization=OTHER_ORGANIZATION)))


def curveball(text: str = "Your CTO wants to delay") -> pb.Command:
    return pb.Command(type=pb.COMMAND_TYPE_CURVEBALL, text=text)


async def stream(stub, session: pb.Session, *texts: str) -> None:
    """Streams ``texts`` as utterances 1, 2, ... of a new stream, until all are acked, then half-closes."""
    gateway = Gateway(stub, session.name)
    await gateway.read()
    gateway.send(*(utterance(n, text) for n, text in enumerate(texts, start=1)))
    await gateway.acks_until(len(texts))
    gateway.close()
    assert await gateway.call.code() == grpc.StatusCode.OK


async def call_in_progress(callers: Callers, session_id: str = "", gateway: str = GATEWAY_1) -> pb.Session:
    """Ivy's session, streamed by gateway 1 (two messages), with a command ``c1``."""
    session = await new_session(callers.ivy, gateway=gateway, session_id=session_id)
    await stream(callers.gateway_1, session, "hello", "we need to cut costs")
    await callers.ivy.SendCommand(pb.SendCommandRequest(parent=session.name, command=curveball(), command_id="c1"))
    return session


async def stored(callers: Callers, engine, session: pb.Session) -> tuple:
    """Everything stored of an acme session, as its admin reads it and as its outbox holds it."""
    read = (await callers.admin.GetSession(pb.GetSessionRequest(name=session.name))).session
    messages = await callers.admin.ListMessages(pb.ListMessagesRequest(parent=session.name))
    commands = await callers.admin.ListCommands(pb.ListCommandsRequest(parent=session.name))
    outbox = await all_rows(engine, "SELECT kind, up_to_sequence FROM transcript.outbox WHERE session_id = :id",
                            id=session_id(session.name))  # each test's session ids are its own
    return read, list(messages.messages), list(commands.commands), outbox


def every_call(stub, name: str, rpcs: tuple[str, ...]) -> list:
    """The unary RPCs ``rpcs`` on the session ``name``, its message 1 and its command ``c1``."""
    calls = {
        "GetSession": lambda: stub.GetSession(pb.GetSessionRequest(name=name)),
        "EndSession": lambda: stub.EndSession(pb.EndSessionRequest(name=name)),
        "GetMessage": lambda: stub.GetMessage(pb.GetMessageRequest(name=f"{name}/messages/1")),
        "ListMessages": lambda: stub.ListMessages(pb.ListMessagesRequest(parent=name)),
        "SendCommand": lambda: stub.SendCommand(pb.SendCommandRequest(parent=name, command=curveball("outside"))),
        "GetCommand": lambda: stub.GetCommand(pb.GetCommandRequest(name=f"{name}/commands/c1")),
        "ListCommands": lambda: stub.ListCommands(pb.ListCommandsRequest(parent=name)),
    }
    return [calls[rpc]() for rpc in rpcs]


UNARY_RPCS = ("GetSession", "EndSession", "GetMessage", "ListMessages", "SendCommand", "GetCommand", "ListCommands")
SERVICE_RPCS = ("GetSession", "GetMessage", "ListMessages", "SendCommand", "GetCommand", "ListCommands")


async def not_found_everywhere(stub, name: str, rpcs: tuple[str, ...] = UNARY_RPCS,
                               streams: bool = True) -> list[status_pb2.Status]:
    """The status of each of ``rpcs`` on ``name`` (and of StreamSession if ``streams``), each checked NOT_FOUND."""
    statuses = [(await rejected(call, NOT_FOUND)).status for call in every_call(stub, name, rpcs)]
    if streams:
        gateway = Gateway(stub, name)
        gateway.send(utterance(1))
        statuses.append((await stream_ended_with(gateway.call, NOT_FOUND)).status)
    return statuses


async def test_a_session_names_its_interviewer_and_the_gateway_it_was_given(callers):
    given = await new_session(callers.ivy, gateway=GATEWAY_1)
    assert (given.interviewer, given.gateway) == (IVY, GATEWAY_1)
    by_admin = await new_session(callers.admin)
    assert (by_admin.interviewer, by_admin.gateway) == (ADMIN_SUBJECT, "")
    read = (await callers.ivy.GetSession(pb.GetSessionRequest(name=given.name))).session
    assert read == given


async def test_bad_gateway_subjects_are_invalid_and_nothing_is_created(callers):
    scenario = f"scenarios/bad-gateway-{uid()}"
    for gateway in ("g" * 201, "gateway\n1", "gate\x7fway"):
        request = pb.CreateSessionRequest(session=pb.Session(
            persona="personas/sarah-chen", scenario=scenario, blueprint=1, gateway=gateway))
        assert (await rejected(callers.ivy.CreateSession(request), grpc.StatusCode.INVALID_ARGUMENT)).fields == [
            "session.gateway"]
    listed = await callers.admin.ListSessions(pb.ListSessionsRequest(scenario=scenario))
    assert list(listed.sessions) == []


async def test_another_organization_is_told_a_session_does_not_exist_as_if_it_did_not(callers, engine):
    name = f"sessions/call-{uid()}"
    before = await not_found_everywhere(callers.stranger, name)  # nobody holds it yet
    scenario = f"scenarios/tenancy-{uid()}"
    session = await new_session(callers.ivy, gateway=GATEWAY_1, session_id=session_id(name), scenario=scenario)
    await stream(callers.gateway_1, session, "hello", "we need to cut costs")
    await callers.ivy.SendCommand(pb.SendCommandRequest(parent=name, command=curveball(), command_id="c1"))
    held = await stored(callers, engine, session)

    assert await not_found_everywhere(callers.stranger, name) == before
    assert await stored(callers, engine, session) == held
    listed = await callers.stranger.ListSessions(pb.ListSessionsRequest(scenario=scenario))
    assert list(listed.sessions) == []


async def test_two_organizations_hold_the_same_ids_apart(callers, engine):
    chosen, request_id = f"call-{uid()}", f"create-{uid()}"

    async def create(stub, round_number: int) -> pb.Session:
        return (await stub.CreateSession(pb.CreateSessionRequest(
            session=pb.Session(persona="personas/sarah-chen", blueprint=1, round_number=round_number),
            session_id=chosen, request_id=request_id))).session

    ours, theirs = await create(callers.ivy, 1), await create(callers.stranger, 2)
    assert ours.name == theirs.name == f"sessions/{chosen}"
    assert (ours.round_number, theirs.round_number) == (1, 2)
    await stream(callers.admin, ours, "our words")
    await stream(callers.stranger, theirs, "their words", "and more")
    for stub, text in ((callers.ivy, "ours"), (callers.stranger, "theirs")):
        await stub.SendCommand(pb.SendCommandRequest(parent=ours.name, command=curveball(text), command_id="c1"))
    await callers.stranger.EndSession(pb.EndSessionRequest(name=theirs.name))

    async def held(stub) -> tuple:
        session = (await stub.GetSession(pb.GetSessionRequest(name=ours.name))).session
        messages = await stub.ListMessages(pb.ListMessagesRequest(parent=ours.name))
        command = (await stub.GetCommand(pb.GetCommandRequest(name=f"{ours.name}/commands/c1"))).command
        return session.round_number, session.state, [m.text for m in messages.messages], command.text

    assert await held(callers.ivy) == (1, pb.SESSION_STATE_ACTIVE, ["our words"], "ours")
    assert await held(callers.stranger) == (2, pb.SESSION_STATE_ENDED, ["their words", "and more"], "theirs")
    assert await all_rows(engine, "SELECT organization, kind FROM transcript.outbox WHERE session_id = :id",
                          id=chosen) == [(OTHER_ORGANIZATION, "audit")]


async def test_participants_admins_and_services_read_a_session_and_other_interviewers_and_gateways_may_not(
        callers, engine):
    session = await call_in_progress(callers)
    held = await stored(callers, engine, session)

    async def reads(stub, **options) -> list:
        message = f"{session.name}/messages/2"
        command = f"{session.name}/commands/c1"
        messages = await stub.ListMessages(pb.ListMessagesRequest(parent=session.name), **options)
        commands = await stub.ListCommands(pb.ListCommandsRequest(parent=session.name), **options)
        return [(await stub.GetSession(pb.GetSessionRequest(name=session.name), **options)).session.name,
                (await stub.GetMessage(pb.GetMessageRequest(name=message), **options)).message.text,
                [m.sequence for m in messages.messages],
                (await stub.GetCommand(pb.GetCommandRequest(name=command), **options)).command.name,
                [c.name for c in commands.commands]]

    expected = [session.name, "we need to cut costs", [1, 2], f"{session.name}/commands/c1",
                [f"{session.name}/commands/c1"]]
    for stub, options in ((callers.admin, {}), (callers.ivy, {}), (callers.gateway_1, {}),
                          (callers.service, {"metadata": ACTING_FOR_ACME})):
        assert await reads(stub, **options) == expected
    for outsider in (callers.ian, callers.gateway_2):
        for call in (outsider.GetSession(pb.GetSessionRequest(name=session.name)),
                     outsider.GetMessage(pb.GetMessageRequest(name=f"{session.name}/messages/1")),
                     outsider.ListMessages(pb.ListMessagesRequest(parent=session.name)),
                     outsider.GetCommand(pb.GetCommandRequest(name=f"{session.name}/commands/c1")),
                     outsider.ListCommands(pb.ListCommandsRequest(parent=session.name))):
            rejection = await rejected(call, DENIED)
            assert (rejection.reason, rejection.info.metadata["resource"]) == ("NOT_A_PARTICIPANT", session.name)
    assert await stored(callers, engine, session) == held


async def test_interviewers_and_gateways_list_only_their_own_sessions(callers):
    scenario = f"scenarios/listing-{uid()}"
    first = await new_session(callers.ivy, gateway=GATEWAY_1, scenario=scenario)
    second = await new_session(callers.ian, scenario=scenario)
    third = await new_session(callers.ivy, gateway=GATEWAY_2, scenario=scenario)

    async def listed(stub, **options) -> list[str]:
        reply = await stub.ListSessions(pb.ListSessionsRequest(scenario=scenario, page_size=1), **options)
        names = [s.name for s in reply.sessions]
        while reply.next_page_token:
            reply = await stub.ListSessions(pb.ListSessionsRequest(scenario=scenario, page_size=1,
                                                                   page_token=reply.next_page_token), **options)
            names += [s.name for s in reply.sessions]
        return names

    everything = [third.name, second.name, first.name]
    assert await listed(callers.admin) == everything
    assert await listed(callers.ivy) == [third.name, first.name]
    assert await listed(callers.ian) == [second.name]
    assert await listed(callers.gateway_1) == [first.name]
    assert await listed(callers.gateway_2) == [third.name]
    assert await listed(callers.stranger) == []


async def test_a_session_is_ended_only_by_an_admin_its_interviewer_or_its_gateway(callers, engine):
    for ender in (callers.admin, callers.ivy, callers.gateway_1):
        session = await call_in_progress(callers)
        held = await stored(callers, engine, session)
        for outsider in (callers.ian, callers.gateway_2):
            rejection = await rejected(outsider.EndSession(pb.EndSessionRequest(name=session.name)), DENIED)
            assert rejection.reason == "NOT_A_PARTICIPANT"
        assert await stored(callers, engine, session) == held
        ended = (await ender.EndSession(pb.EndSessionRequest(name=session.name))).session
        assert ended.state == pb.SESSION_STATE_ENDED


async def test_commands_come_from_an_admin_the_interviewer_or_a_service(callers, engine):
    session = await call_in_progress(callers)
    held = await stored(callers, engine, session)
    rejection = await rejected(callers.ian.SendCommand(pb.SendCommandRequest(
        parent=session.name, command=curveball("not mine"))), DENIED)
    assert rejection.reason == "NOT_A_PARTICIPANT"
    assert await stored(callers, engine, session) == held
    for stub, options in ((callers.ivy, {}), (callers.admin, {}), (callers.service, {"metadata": ACTING_FOR_ACME})):
        sent = (await stub.SendCommand(pb.SendCommandRequest(parent=session.name, command=curveball()),
                                       **options)).command
        assert sent.name.startswith(f"{session.name}/commands/")


async def test_the_first_gateway_to_stream_a_session_is_assigned_and_another_is_refused_before_anything_is_stored(
        callers, engine):
    session = await new_session(callers.ivy)
    assigned = Gateway(callers.gateway_1, session.name)
    assert (await assigned.read()).opened.session.gateway == GATEWAY_1
    held = await stored(callers, engine, session)

    refused = Gateway(callers.gateway_2, session.name)
    refused.send(utterance(1, "words of another call"))
    ending = await stream_ended_with(refused.call, DENIED)
    assert (ending.reason, ending.info.metadata["resource"]) == ("GATEWAY_NOT_ASSIGNED", session.name)
    assert await stored(callers, engine, session) == held

    assigned.send(utterance(1, "hello"))
    await assigned.acks_until(1)
    assigned.close()
    assert await assigned.call.code() == grpc.StatusCode.OK
    await stream(callers.admin, session, "hello", "an admin streams any session")  # and is assigned none
    read, messages, _, _ = await stored(callers, engine, session)
    assert (read.gateway, [m.text for m in messages]) == (GATEWAY_1, ["hello", "an admin streams any session"])


async def test_of_two_gateways_opening_an_unassigned_session_at_once_exactly_one_is_assigned(callers):
    sessions = [await new_session(callers.ivy) for _ in range(5)]

    async def open_as(stub, session: pb.Session) -> str:
        gateway = Gateway(stub, session.name)
        try:
            opened = (await gateway.read()).opened
        except grpc.aio.AioRpcError:
            return (await stream_ended_with(gateway.call, DENIED)).reason
        gateway.close()
        assert await gateway.call.code() == grpc.StatusCode.OK
        return opened.session.gateway

    for session in sessions:
        outcomes = await asyncio.gather(open_as(callers.gateway_1, session), open_as(callers.gateway_2, session))
        read = (await callers.ivy.GetSession(pb.GetSessionRequest(name=session.name))).session
        assert sorted(outcomes) == sorted([read.gateway, "GATEWAY_NOT_ASSIGNED"])
        assert read.gateway in (GATEWAY_1, GATEWAY_2)


async def test_a_service_acting_for_no_organization_sees_nothing_and_creates_nothing(callers, engine,
                                                                                      transcript_server, connect):
    name = f"sessions/call-{uid()}"
    before = await not_found_everywhere(callers.service, name, SERVICE_RPCS, streams=False)
    session = await call_in_progress(callers, session_id(name))
    held = await stored(callers, engine, session)
    assert await not_found_everywhere(callers.service, name, SERVICE_RPCS, streams=False) == before
    assert await stored(callers, engine, session) == held

    unanchored = transcript_service_pb2_grpc.TranscriptServiceStub(connect(
        transcript_server, token("service", "interviewer", organization="", subject="service:unanchored")))
    scenario = f"scenarios/unanchored-{uid()}"
    rejection = await rejected(unanchored.CreateSession(pb.CreateSessionRequest(session=pb.Session(
        persona="personas/sarah-chen", scenario=scenario, blueprint=1))), grpc.StatusCode.FAILED_PRECONDITION)
    assert rejection.reason == "ORGANIZATION_REQUIRED"
    listed = await callers.admin.ListSessions(pb.ListSessionsRequest(scenario=scenario))
    assert list(listed.sessions) == []
