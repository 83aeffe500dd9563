"""The group committer's database connection terminated again and again while gateways stream as fast as acks
allow: every utterance is stored exactly once, a session's durable sequence never lies above a hole, and every
stream that fails ends with a status the gateway resumes on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from svckit.db import make_engine
from tests.faults.resuming_gateway import RETRYABLE, GatewayState, stored_once, stream_resuming
from tests.probes import metric
from tests.security import secure_channel
from transcript_svc.adapters.group_commit import APPLICATION_NAME
from transcript_svc.app import SPEC, build

# Terminates the committer's connection unless it is one terminated already (a dying backend still shows).
KILL_COMMITTER = """
SELECT array_agg(pid) FROM (
    SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = $1 AND NOT pid = ANY($2::int[])
) AS killed
"""


@pytest_asyncio.fixture
async def server(own_database_url, transcript_settings) -> AsyncIterator[str]:
    engine = make_engine(own_database_url, pool_size=5)
    await SPEC.migrate(engine)
    app = await build(transcript_settings(database_url=own_database_url), engine)
    await app.start()
    yield app.address
    await app.stop(grace=2)
    await engine.dispose()


class Killer:
    """Terminates the committer's connection as the gateways' acks together pass evenly spread marks; a try that
    finds the committer between connections is made again at the next ack."""

    def __init__(self, database_url: str, kills: int, total: int) -> None:
        self._url = database_url
        self._marks = [total * (n + 1) // (kills + 2) for n in range(kills)]
        self._acks = 0
        self._acked = asyncio.Event()
        self.done = 0
        self._killed: list[int] = []

    def on_ack(self) -> None:
        self._acks += 1
        self._acked.set()

    async def _next_ack(self) -> None:
        await self._acked.wait()
        self._acked.clear()

    async def run(self) -> None:
        connection = await asyncpg.connect(self._url)
        try:
            for mark in self._marks:
                while self._acks < mark:
                    await self._next_ack()
                while not (killed := await connection.fetchval(KILL_COMMITTER, APPLICATION_NAME, self._killed)):
                    await self._next_ack()
                self._killed += killed
                self.done += 1
        finally:
            await connection.close()


@pytest.mark.parametrize(("sessions", "per_session", "kills"), [(1, 3000, 14), (20, 300, 14)],
                         ids=["one-session", "twenty-sessions"])
async def test_terminated_commit_connections_lose_and_double_nothing(server, own_database_url, sessions,
                                                                     per_session, kills):
    total = sessions * per_session
    async with secure_channel(server) as channel:
        stub = transcript_service_pb2_grpc.TranscriptServiceStub(channel)
        names = [(await stub.CreateSession(pb.CreateSessionRequest(
            session=pb.Session(persona="personas/sarah-chen", blueprint=persona_pb.BLUEPRINT_SALES),
            session_id=f"killed-{n}"))).session.name for n in range(sessions)]
    killer = Killer(own_database_url, kills, total)
    states = [GatewayState(on_ack=killer.on_ack) for _ in names]
    reconnects_before = metric("sparring_transcript_commit_reconnects_total")
    killing = asyncio.create_task(killer.run())
    try:
        gateways = [stream_resuming(server, name, state, per_session, window=256)
                    for name, state in zip(names, states, strict=True)]
        await asyncio.wait_for(asyncio.gather(*gateways), timeout=90)
    finally:
        killing.cancel()
        await asyncio.gather(killing, return_exceptions=True)

    assert killer.done == kills, f"only {killer.done} of {kills} connections were terminated"
    # A kill after the last commit is noticed only by the next group.
    assert metric("sparring_transcript_commit_reconnects_total") - reconnects_before >= killer.done - 1
    assert all(code in RETRYABLE for state in states for code in state.endings)
    for name, state in zip(names, states, strict=True):
        assert state.acked == per_session
        await stored_once(own_database_url, name, per_session)
