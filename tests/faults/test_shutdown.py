"""Service processes stopped by SIGTERM as Kubernetes stops them: health says NOT_SERVING while calls are still
served (the drain), then the call in flight finishes, open streams end with their documented status and the
process exits 0 within drain + grace."""

from __future__ import annotations

import asyncio
import signal
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.analysis.v1 import analysis_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from devtools.gateway import Gateway
from tests.e2e.status_details import checked_rejection
from tests.e2e.test_analysis_live import CALL
from tests.e2e.test_analysis_openai import GOOD
from tests.e2e.transcript_checks import stream_ended_with
from tests.e2e.transcript_fixtures import streamed_call, utterance
from tests.fake_openai import serving
from tests.faults.test_transcript_crash import create_session, server_factory  # noqa: F401  (a fixture)
from tests.security import secure_channel

DRAIN_SECONDS, GRACE_SECONDS = 3.0, 10.0
SERVICE = pb.DESCRIPTOR.services_by_name["AnalysisService"].full_name


async def test_sigterm_drains_then_lets_the_call_in_flight_finish(server_factory, transcripts, transcript_server):  # noqa: F811
    session = await streamed_call(transcripts, CALL)
    with serving(lambda _request: GOOD) as model:
        server = server_factory(
            "analysis", ANALYSIS_TRANSCRIPT_ADDRESS=transcript_server, ANALYSIS_ENGINE="openai",
            ANALYSIS_OPENAI_BASE_URL=model.base_url, ANALYSIS_OPENAI_MODEL="fake", ANALYSIS_OPENAI_MAX_RETRIES="0",
            ANALYSIS_OPENAI_TIMEOUT_SECONDS="30", ANALYSIS_DRAIN_SECONDS=str(DRAIN_SECONDS),
            ANALYSIS_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS))
        await server.start()
        async with secure_channel(server.address) as channel:
            analyses = analysis_service_pb2_grpc.AnalysisServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=SERVICE))
            assert (await health.read()).status == health_pb2.HealthCheckResponse.SERVING
            watcher = analyses.WatchSession(pb.WatchSessionRequest(session=session))
            assert (await watcher.read()).HasField("snapshot")
            model.mode = "held"
            in_flight = asyncio.ensure_future(analyses.RequestAnalysis(
                pb.RequestAnalysisRequest(session=session, up_to_sequence=10, trigger_id="seq-10"), timeout=60))
            assert await asyncio.to_thread(model.holding.wait, 30), f"no model call arrived\n{server.log()}"

            server.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            assert (await health.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
            # Still draining: a new call is served.
            snapshot = await analyses.GetSessionSnapshot(pb.GetSessionSnapshotRequest(session=session), timeout=5)
            assert snapshot.snapshot.session == session
            assert time.monotonic() - signalled < DRAIN_SECONDS, "the new call landed within the drain"

            # Then the stream is ended politely, while the unary call is still in flight.
            ended = checked_rejection(await watcher.code(), grpc.StatusCode.UNAVAILABLE, await watcher.details(),
                                      await rpc_status.aio.from_call(watcher), "analysis.sparring.dev")
            assert ended.reason == "SERVER_SHUTTING_DOWN"
            # A load balancer's health watch ends too, rather than holding the stop for the grace period.
            assert await health.read() is grpc.aio.EOF
            assert await health.code() == grpc.StatusCode.OK
            assert not in_flight.done()
            model.release.set()
            reply = await in_flight
            assert reply.analysis.engine == pb.ENGINE_OPENAI and not reply.analysis.engine_fallback
            assert reply.analysis.say_meter.score == GOOD["say_meter"]["score"]

        code = await asyncio.wait_for(server.process.wait(), timeout=DRAIN_SECONDS + GRACE_SECONDS)
    assert code == 0, server.log()
    assert time.monotonic() - signalled < DRAIN_SECONDS + GRACE_SECONDS


async def test_sigterm_keeps_a_transcript_stream_through_the_drain_then_ends_it(server_factory):  # noqa: F811
    server = server_factory(TRANSCRIPT_DRAIN_SECONDS=str(DRAIN_SECONDS),
                            TRANSCRIPT_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS))
    await server.start()
    session = await create_session(server.address)
    async with secure_channel(server.address) as channel:
        gateway = Gateway(transcript_service_pb2_grpc.TranscriptServiceStub(channel), session)
        await gateway.read()  # opened
        health = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(
            service=transcript_pb.DESCRIPTOR.services_by_name["TranscriptService"].full_name))
        assert (await health.read()).status == health_pb2.HealthCheckResponse.SERVING

        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert (await health.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        # Still draining: the call goes on, each utterance made durable and acknowledged.
        gateway.send(utterance(1))
        assert [ack.sequence for ack in await gateway.acks_until(1)] == [1]
        assert time.monotonic() - signalled < DRAIN_SECONDS, "the utterance was acknowledged within the drain"
        # Then the gateway is told to reconnect (to another replica) and resume.
        ended = await stream_ended_with(gateway.call, grpc.StatusCode.UNAVAILABLE)
        assert ended.reason == "SERVER_SHUTTING_DOWN"
        gateway.close()
    code = await asyncio.wait_for(server.process.wait(), timeout=DRAIN_SECONDS + GRACE_SECONDS)
    assert code == 0, server.log()
