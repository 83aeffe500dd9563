"""The transcript server as a real process: killed with SIGKILL mid-stream and restarted, the gateway
resumes and every utterance is stored exactly once; a gateway that does not read its acks is held back
at max_in_flight by a server that stops reading, and still gets every ack in order."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from devtools.gateway import open_frame
from tests.faults.resuming_gateway import GatewayState, stream_until, utterance
from tests.probes import free_port, poll
from tests.security import secure_channel
from transcript_svc.domain.model import analysis_due

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


@dataclass
class ServerProcess:
    """``python -m {service}_svc`` on fixed ports; ``start`` again after a kill restarts it on the same ones.

    It stops at once on SIGTERM (no drain) unless ``env`` sets its ``{SERVICE}_DRAIN_SECONDS``."""

    database_url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    service: str = "transcript"
    grpc_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    async def start(self) -> None:
        prefix = self.service.upper()
        env = {**os.environ, "DATABASE_URL": self.database_url, "LOG_LEVEL": "WARNING",
               f"{prefix}_GRPC_PORT": str(self.grpc_port), f"{prefix}_METRICS_PORT": str(self.metrics_port),
               f"{prefix}_DRAIN_SECONDS": "0", **self.env}
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", f"{self.service}_svc", cwd=ROOT, env=env, stdout=log, stderr=log)
        await self._wait_serving()

    async def _wait_serving(self) -> None:
        """Polls the health service (each attempt bounded) until SERVING, the process dies, or time runs out."""
        deadline = time.monotonic() + START_TIMEOUT
        async with secure_channel(self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                assert self.process is not None and self.process.returncode is None, (
                    f"the server exited with {self.process.returncode if self.process else None}:\n{self.log()}")
                try:
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                assert time.monotonic() < deadline, f"the server did not become healthy:\n{self.log()}"
                await asyncio.sleep(0.05)  # poll interval, bounded by the deadline above

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(self.process.wait(), timeout=10) == -signal.SIGKILL

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def metric(self, name: str) -> float:
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()
        return sum(sample.value for family in text_string_to_metric_families(text)
                   for sample in family.samples if sample.name == name)


@pytest_asyncio.fixture
async def server_factory(own_database_url, tmp_path, persona_server, catalogue) -> AsyncIterator:
    """Makes service processes on a database of their own, reading personas from the catalogue's persona server."""
    servers: list[ServerProcess] = []

    def make(service: str = "transcript", **env: str) -> ServerProcess:
        env = {f"{service.upper()}_PERSONA_ADDRESS": persona_server, **env}
        server = ServerProcess(own_database_url, tmp_path / f"server-{len(servers)}.log", env, service)
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.stop()


async def create_session(address: str) -> str:
    async with secure_channel(address) as channel:
        stub = transcript_service_pb2_grpc.TranscriptServiceStub(channel)
        reply = await stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(
            persona="personas/sarah-chen", blueprint=persona_pb.BLUEPRINT_SALES), session_id="crash-call"))
    return reply.session.name


async def stored_sequences(database_url: str, session: str) -> tuple[int, int, int, int]:
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT sequence) AS d, min(sequence) AS lo, max(sequence) AS hi "
            "FROM transcript.messages WHERE session_id = $1", session.split("/")[1])
        return row["n"], row["d"], row["lo"], row["hi"]
    finally:
        await connection.close()


async def test_a_server_killed_mid_stream_loses_and_doubles_nothing(server_factory, own_database_url):
    total, kill_at = 600, 150
    server = server_factory()
    await server.start()
    session = await create_session(server.address)
    state = GatewayState(reach_at=kill_at)

    first = asyncio.create_task(stream_until(server.address, session, state, total, window=64))
    reached = asyncio.create_task(state.reached.wait())
    await asyncio.wait({first, reached}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    reached.cancel()
    assert state.reached.is_set(), f"no progress before the kill: acked {state.acked}\n{server.log()}"
    await server.kill()
    acked_at_kill, sent_at_kill = state.acked, state.sent
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await first
    # A killed server sends no status: the client library reports the lost connection, as UNAVAILABLE, or as
    # INTERNAL "Internal error from Core" when a write of the gateway's met it first.
    assert (failed.value.code(), failed.value.details()) in {
        (grpc.StatusCode.UNAVAILABLE, failed.value.details()), (grpc.StatusCode.INTERNAL, "Internal error from Core")}
    assert acked_at_kill < total and sent_at_kill > state.acked, "the kill landed mid-stream with utterances in flight"

    # Restarted on the same port; the gateway resumes from what was acked and sends on to the end.
    await server.start()
    overlap = 20  # a cautious gateway also resends a few it saw acked
    durable = await asyncio.wait_for(stream_until(server.address, session, state, total, window=64,
                                                  overlap=overlap), timeout=60)
    assert acked_at_kill <= durable <= sent_at_kill
    assert state.acked == total
    # Every resend of a stored utterance is acked as a duplicate, including any committed but never acked.
    assert state.duplicates == list(range(acked_at_kill + 1 - overlap, durable + 1))

    assert await stored_sequences(own_database_url, session) == (total, total, 1, total)
    connection = await asyncpg.connect(own_database_url)
    try:
        last = await connection.fetchval("SELECT last_sequence FROM transcript.sessions WHERE id = 'crash-call'")
        triggers = await connection.fetch(
            "SELECT up_to_sequence FROM transcript.outbox WHERE session_id = 'crash-call' AND kind = 'analysis' "
            "ORDER BY up_to_sequence")
    finally:
        await connection.close()
    assert last == total
    assert [r["up_to_sequence"] for r in triggers] == analysis_due(0, total, 10), "each trigger exactly once"


async def test_a_gateway_that_does_not_read_is_held_at_max_in_flight(server_factory, own_database_url):
    total, max_in_flight = 200, 8
    server = server_factory(TRANSCRIPT_MAX_IN_FLIGHT=str(max_in_flight))
    await server.start()
    session = await create_session(server.address)

    blocker = await asyncpg.connect(own_database_url)
    received_before = server.metric("sparring_transcript_messages_received_total")
    try:
        async with secure_channel(server.address) as channel:
            call = transcript_service_pb2_grpc.TranscriptServiceStub(channel).StreamSession()
            await call.write(open_frame(session, 0))
            opened = (await call.read()).opened
            assert opened.max_in_flight == max_in_flight
            # A slow database: the session row is locked, so the group commit that advances it waits.
            await blocker.execute("BEGIN")
            await blocker.execute("SELECT 1 FROM transcript.sessions WHERE id = 'crash-call' FOR UPDATE")

            async def write_everything() -> None:
                for sequence in range(1, total + 1):
                    await call.write(utterance(sequence))

            writer = asyncio.create_task(write_everything())
            # The server reads up to max_in_flight utterances, then stops reading while none is committed.
            await poll(lambda: server.metric("sparring_transcript_messages_received_total") - received_before
                       >= max_in_flight, server.log)
            pid = blocker.get_server_pid()
            waiting = "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))"
            await poll(lambda: blocker.fetchval(waiting, pid), server.log)  # the group commit waits on the lock
            await asyncio.wait_for(writer, timeout=20)  # the 200 frames fit in the HTTP/2 window
            assert server.metric("sparring_transcript_messages_received_total") - received_before == max_in_flight
            stored = await blocker.fetchval("SELECT count(*) FROM transcript.messages WHERE session_id = 'crash-call'")
            assert stored == 0

            await blocker.execute("ROLLBACK")  # the database is fast again
            acks = []
            while len(acks) < total:
                frame = await asyncio.wait_for(call.read(), timeout=20)
                assert frame is not grpc.aio.EOF
                acks += [(a.sequence, a.duplicate) for a in frame.acks.acks]
            assert acks == [(n, False) for n in range(1, total + 1)]
            await call.done_writing()
            assert await call.code() == grpc.StatusCode.OK
        assert server.metric("sparring_transcript_messages_received_total") - received_before == total
    finally:
        await blocker.close()
    assert await stored_sequences(own_database_url, session) == (total, total, 1, total)
