"""The shared runtime through real servers: health, reflection, metrics, graceful stop."""

from __future__ import annotations

import asyncio
import urllib.request

import grpc
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from sparring.learning.v1 import learning_service_pb2 as learning_pb
from sparring.learning.v1 import learning_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as pb

from analysis_svc.app import SPEC as ANALYSIS
from learning_svc.app import SPEC as LEARNING
from svckit.server import GrpcApp, start_metrics_endpoint

SERVICES_BUILT_ON_THEIR_OWN = [ANALYSIS, LEARNING]  # the others have fixtures of their own


@pytest.mark.parametrize("spec", SERVICES_BUILT_ON_THEIR_OWN, ids=lambda s: s.name)
async def test_services_migrate_and_report_serving(spec, engine, database_url):
    await spec.migrate(engine)
    async with engine.connect() as connection:
        version = await connection.scalar(sa.text(f"SELECT version_num FROM {spec.schema}.alembic_version"))
    assert version  # the service's schema carries its own version table

    app = await spec.build(spec.settings_cls(database_url=database_url), engine)
    await app.start()
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", app.service_names[0]):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
            if spec is LEARNING:
                stub = learning_service_pb2_grpc.LearningServiceStub(channel)
                reply = await stub.ListActivePatches(learning_pb.ListActivePatchesRequest())
                assert reply.active_set_etag
    finally:
        await app.stop(grace=1)


async def test_reflection_lists_the_service_and_health(persona_server):
    async with grpc.aio.insecure_channel(persona_server) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        reply = await responses.read()
    names = {s.name for s in reply.list_services_response.service}
    assert {"sparring.persona.v1.PersonaService", "grpc.health.v1.Health"} <= names


async def test_metrics_use_go_grpc_prometheus_names(personas):
    port = start_metrics_endpoint("127.0.0.1", 0)
    with pytest.raises(grpc.aio.AioRpcError):
        await personas.GetPersona(pb.GetPersonaRequest(name="personas/no-such-persona-for-metrics"))
    await personas.ListArchetypes(pb.ListArchetypesRequest())

    text = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode())
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}

    def value(name: str, **labels) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    common = {"grpc_type": "unary", "grpc_service": "sparring.persona.v1.PersonaService"}
    assert value("grpc_server_started_total", grpc_method="GetPersona", **common) >= 1
    assert value("grpc_server_handled_total", grpc_method="GetPersona", grpc_code="NOT_FOUND", **common) >= 1
    assert value("grpc_server_handled_total", grpc_method="ListArchetypes", grpc_code="OK", **common) >= 1
    assert value("grpc_server_msg_received_total", grpc_method="ListArchetypes", **common) >= 1
    assert value("grpc_server_msg_sent_total", grpc_method="ListArchetypes", **common) >= 1
    assert value("grpc_server_handling_seconds_count", grpc_method="GetPersona", **common) >= 1
    assert value("grpc_server_handling_seconds_bucket", grpc_method="GetPersona", le="+Inf", **common) >= 1


def _blocking_service(release: asyncio.Event, entered: asyncio.Event) -> grpc.GenericRpcHandler:
    async def slow(request: bytes, context) -> bytes:
        entered.set()
        await release.wait()
        return request

    handler = grpc.unary_unary_rpc_method_handler(slow)
    return grpc.method_handlers_generic_handler("test.Slow", {"Call": handler})


async def test_graceful_stop_reports_not_serving_and_drains_in_flight_calls():
    release, entered = asyncio.Event(), asyncio.Event()
    app = GrpcApp(service_names=["test.Slow"], error_domain="test",
                  add_servicers=lambda server: server.add_generic_rpc_handlers([_blocking_service(release, entered)]))
    await app.start()
    async with grpc.aio.insecure_channel(app.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service="test.Slow"))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        in_flight = asyncio.ensure_future(channel.unary_unary("/test.Slow/Call")(b"payload"))
        await entered.wait()

        stopping = asyncio.ensure_future(app.stop(grace=30))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()  # as a load balancer does once it sees NOT_SERVING
        assert not in_flight.done()
        release.set()
        assert await in_flight == b"payload"
        await stopping
