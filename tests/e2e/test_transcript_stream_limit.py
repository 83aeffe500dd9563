"""A replica holds a bounded number of streams: opens beyond it are refused with a retryable status, before
they touch the database, and the streams it holds go on working. Every wait is on a frame or a status."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from sparring.transcript.v1 import transcript_service_pb2_grpc

from devtools.gateway import Gateway
from svckit.db import make_engine
from tests.e2e.status_details import retry_delay_of
from tests.e2e.transcript_checks import scalar, session_id, stream_ended_with
from tests.e2e.transcript_fixtures import new_session, utterance
from tests.probes import metric
from tests.security import secure_channel
from transcript_svc.app import build

MAX_OPEN = 3
REFUSALS = "sparring_transcript_streams_refused_total"


@pytest_asyncio.fixture(scope="module")
async def bounded(database_url, transcript_schema,
                  transcript_settings) -> AsyncIterator[transcript_service_pb2_grpc.TranscriptServiceStub]:
    """A replica that holds at most MAX_OPEN streams."""
    engine = make_engine(database_url, pool_size=2)
    app = await build(transcript_settings(max_open_streams=MAX_OPEN), engine)
    await app.start()
    async with secure_channel(app.address) as channel:
        yield transcript_service_pb2_grpc.TranscriptServiceStub(channel)
    await app.stop(grace=1)
    await engine.dispose()


async def opened(gateway: Gateway) -> Gateway:
    assert (await gateway.read()).WhichOneof("frame") == "opened"
    return gateway


async def test_opens_beyond_the_bound_are_refused_with_a_retry_delay_and_the_held_streams_work(bounded, engine):
    sessions = [await new_session(bounded) for _ in range(MAX_OPEN + 2)]
    held = [await opened(Gateway(bounded, s.name)) for s in sessions[:MAX_OPEN]]
    refusals_before = metric(REFUSALS)

    for session in sessions[MAX_OPEN:]:
        refused = Gateway(bounded, session.name)
        with pytest.raises(grpc.aio.AioRpcError):  # refused, not opened
            await refused.call.read()
        refusal = await stream_ended_with(refused.call, grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert refusal.reason == "TOO_MANY_STREAMS"
        assert refusal.info.metadata["max_open_streams"] == str(MAX_OPEN)
        assert retry_delay_of(refusal.status) > 0
        epoch = "SELECT stream_epoch FROM transcript.sessions WHERE id = :id"
        assert await scalar(engine, epoch, id=session_id(session.name)) == 0, "a refused open claims nothing"
    assert metric(REFUSALS) == refusals_before + 2

    for gateway in held:
        gateway.send(utterance(1))
        assert [a.sequence for a in await gateway.acks_until(1)] == [1]

    # A stream that ends gives its place to the next open.
    held[0].close()
    assert await held[0].call.code() == grpc.StatusCode.OK
    held[0] = await opened(Gateway(bounded, sessions[MAX_OPEN].name))
    for gateway in held:
        gateway.close()
        assert await gateway.call.code() == grpc.StatusCode.OK
