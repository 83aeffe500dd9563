"""Analysis requests and audits leave through the outbox: every N durable messages, once, retried."""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
import pytest_asyncio
import sqlalchemy as sa
from sparring.analysis.v1 import analysis_service_pb2 as analysis_pb
from sparring.analysis.v1 import analysis_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from devtools.gateway import Gateway
from svckit.context import current_call
from svckit.server import GrpcApp
from tests.e2e.transcript_fixtures import new_session, utterance
from tests.security import OTHER_ORGANIZATION, secure_channel, security, token
from transcript_svc.app import build


class FakeAnalysis(analysis_service_pb2_grpc.AnalysisServiceServicer):
    """Records what it is asked; with ``refuse_first``, refuses each session's first call, as a restarting
    service would. The analysis requests of the sessions in ``held`` wait for ``released``; ``holding`` holds the
    sessions whose request waits now."""

    def __init__(self, refuse_first: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.organizations: dict[str, set[str]] = {}  # session -> the organizations its calls acted for
        self.refuse_first = refuse_first
        self.changed = asyncio.Condition()
        self.held: set[str] = set()
        self.holding: set[str] = set()
        self.released = asyncio.Event()

    async def _record(self, call: tuple[str, str], context) -> None:
        first = not self.of(call[0])
        self.organizations.setdefault(call[0], set()).add(current_call().organization)
        async with self.changed:
            self.calls.append(call)
            self.changed.notify_all()
        if self.refuse_first and first:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "starting up")

    async def RequestAnalysis(self, request, context):
        if request.session in self.held:
            async with self.changed:
                self.holding.add(request.session)
                self.changed.notify_all()
            try:
                await self.released.wait()
            finally:
                self.holding.discard(request.session)
        await self._record((request.session, request.trigger_id), context)
        return analysis_pb.RequestAnalysisResponse()

    async def AuditSession(self, request, context):
        await self._record((request.session, "audit"), context)
        return analysis_pb.AuditSessionResponse()

    def of(self, session: str) -> list[tuple[str, str]]:
        # Other tests' sessions share the database, and their outbox rows come here too.
        return [call for call in self.calls if call[0] == session]

    async def wait_for(self, session: str, count: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: len(self.of(session)) >= count)


@pytest_asyncio.fixture
async def fake_analysis():
    fakes = []

    async def start(refuse_first: bool = False) -> tuple[FakeAnalysis, str]:
        fake = FakeAnalysis(refuse_first)
        app = GrpcApp(["sparring.analysis.v1.AnalysisService"], "test",
                      lambda server: analysis_service_pb2_grpc.add_AnalysisServiceServicer_to_server(fake, server),
                      security())
        await app.start()
        fakes.append(app)
        return fake, app.address

    yield start
    for app in fakes:
        await app.stop(grace=0)


async def _transcript_replicas(transcript_settings, engine, analysis_address: str, count: int = 1):
    apps = []
    for _ in range(count):
        app = await build(transcript_settings(analysis_address=analysis_address), engine)
        await app.start()
        apps.append(app)
    return apps


async def test_every_interval_of_durable_messages_and_the_end_reach_analysis_once(
        transcript_settings, engine, transcript_schema, fake_analysis):
    fake, address = await fake_analysis()
    replicas = await _transcript_replicas(transcript_settings, engine, address, count=2)
    try:
        async with secure_channel(replicas[0].address) as channel:
            stub = transcript_service_pb2_grpc.TranscriptServiceStub(channel)
            session = await new_session(stub, interval=5)
            gateway = Gateway(stub, session.name)
            await gateway.read()
            gateway.send(*(utterance(n) for n in range(1, 13)))
            await gateway.acks_until(12)
            await fake.wait_for(session.name, 2)
            await stub.EndSession(pb.EndSessionRequest(name=session.name))
            await fake.wait_for(session.name, 3)
    finally:
        for app in replicas:
            await app.stop(grace=1)
    assert Counter(fake.of(session.name)) == Counter({(session.name, "seq-5"): 1, (session.name, "seq-10"): 1,
                                           (session.name, "audit"): 1})
    async with engine.connect() as connection:
        states = (await connection.execute(sa.text(
            "SELECT kind, up_to_sequence, state FROM transcript.outbox WHERE session_id = :id ORDER BY id"),
            {"id": session.name.split("/")[1]})).all()
    assert [tuple(r) for r in states] == [("analysis", 5, "done"), ("analysis", 10, "done"), ("audit", 12, "done")]


async def test_a_refused_request_is_retried_until_delivered(transcript_settings, engine, transcript_schema,
                                                           fake_analysis):
    fake, address = await fake_analysis(refuse_first=True)
    (replica,) = await _transcript_replicas(transcript_settings, engine, address)
    try:
        async with secure_channel(replica.address) as channel:
            stub = transcript_service_pb2_grpc.TranscriptServiceStub(channel)
            session = await new_session(stub, interval=2)
            gateway = Gateway(stub, session.name)
            await gateway.read()
            gateway.send(utterance(1), utterance(2))
            await gateway.acks_until(2)
            await fake.wait_for(session.name, 2)  # refused once, then delivered after the back-off
            gateway.close()
    finally:
        await replica.stop(grace=1)
    assert fake.of(session.name) == [(session.name, "seq-2"), (session.name, "seq-2")]
    async with engine.connect() as connection:
        row = (await connection.execute(sa.text(
            "SELECT state, attempts FROM transcript.outbox WHERE session_id = :id"),
            {"id": session.name.split("/")[1]})).one()
    assert tuple(row) == ("done", 2)


async def test_deliveries_act_for_the_organization_of_their_session(transcript_settings, engine, transcript_schema,
                                                                   fake_analysis, other_sarah):
    fake, address = await fake_analysis()
    (replica,) = await _transcript_replicas(transcript_settings, engine, address)
    try:
        async with secure_channel(replica.address, token("admin", organization=OTHER_ORGANIZATION)) as channel:
            stub = transcript_service_pb2_grpc.TranscriptServiceStub(channel)
            session = await new_session(stub, interval=2)
            gateway = Gateway(stub, session.name)
            await gateway.read()
            gateway.send(utterance(1), utterance(2))
            await gateway.acks_until(2)
            gateway.close()
            await stub.EndSession(pb.EndSessionRequest(name=session.name))
            await fake.wait_for(session.name, 2)  # delivered in the background, outside any call of the session
    finally:
        await replica.stop(grace=1)
    assert Counter(fake.of(session.name)) == Counter({(session.name, "seq-2"): 1, (session.name, "audit"): 1})
    assert fake.organizations[session.name] == {OTHER_ORGANIZATION}


async def test_as_many_requests_as_the_outbox_concurrency_are_in_the_analysis_service_at_once(
        transcript_settings, engine, transcript_schema, fake_analysis):
    fake, address = await fake_analysis()
    concurrency = 12
    # Deadlines longer than the test: a request that timed out and came again would count twice.
    app = await build(transcript_settings(analysis_address=address, outbox_concurrency=concurrency,
                                          analysis_timeout_seconds=60), engine)
    await app.start()
    try:
        async with secure_channel(app.address) as channel:
            stub = transcript_service_pb2_grpc.TranscriptServiceStub(channel)
            sessions = [(await new_session(stub, interval=1)).name for _ in range(concurrency)]
            fake.held.update(sessions)
            for session in sessions:
                gateway = Gateway(stub, session)
                await gateway.read()
                gateway.send(utterance(1))
                await gateway.acks_until(1)
                gateway.close()
            async with fake.changed:
                await asyncio.wait_for(fake.changed.wait_for(lambda: len(fake.holding) == concurrency), 30)
            fake.released.set()
            for session in sessions:
                await fake.wait_for(session, 1)
    finally:
        await app.stop(grace=1)
    assert all(fake.of(session) == [(session, "seq-1")] for session in sessions)
