"""The shared runtime through real servers: health, reflection, metrics, graceful stop."""

from __future__ import annotations

import asyncio
import urllib.request

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import descriptor_database, descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from prometheus_client.parser import text_string_to_metric_families
from sparring.learning.v1 import learning_service_pb2 as learning_pb
from sparring.learning.v1 import learning_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as pb

from analysis_svc.app import SPEC as ANALYSIS
from learning_svc.app import SPEC as LEARNING
from svckit.guard import MethodRule
from svckit.server import GrpcApp, start_metrics_endpoint
from tests.security import secure_channel, security

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
        async with secure_channel(app.address) as channel:
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


REFLECTION_VERSIONS = ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]


@pytest.mark.parametrize("reflection", REFLECTION_VERSIONS)
async def test_reflection_lists_services_and_describes_methods(persona_server, reflection):
    """As grpcurl's `list` and `describe Service.Method` ask, on either version (v1 and v1alpha share messages)."""
    async with secure_channel(persona_server) as channel:
        call = channel.stream_stream(f"/{reflection}/ServerReflectionInfo",
                                     request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                     response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)()

        async def ask(**request) -> reflection_pb2.ServerReflectionResponse:
            await call.write(reflection_pb2.ServerReflectionRequest(**request))
            reply = await call.read()
            assert not reply.HasField("error_response"), (request, reply.error_response)
            return reply

        listed = await ask(list_services="")
        files = descriptor_database.DescriptorDatabase()
        for method in ("sparring.persona.v1.PersonaService.GetPersona", f"{reflection}.ServerReflectionInfo"):
            described = await ask(file_containing_symbol=method.rsplit(".", 1)[0])
            for serialized in described.file_descriptor_response.file_descriptor_proto:
                files.Add(descriptor_pb2.FileDescriptorProto.FromString(serialized))
        await call.done_writing()
    assert {s.name for s in listed.list_services_response.service} >= {
        "sparring.persona.v1.PersonaService", "grpc.health.v1.Health", *REFLECTION_VERSIONS}
    pool = descriptor_pool.DescriptorPool(files)
    get_persona = pool.FindMethodByName("sparring.persona.v1.PersonaService.GetPersona")
    assert get_persona.input_type.full_name == "sparring.persona.v1.GetPersonaRequest"
    assert "name" in get_persona.input_type.fields_by_name
    assert get_persona.output_type.full_name == "sparring.persona.v1.GetPersonaResponse"
    served = pool.FindMethodByName(f"{reflection}.ServerReflectionInfo")
    assert served.input_type.full_name == f"{reflection.rsplit('.', 1)[0]}.ServerReflectionRequest"


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
                  add_servicers=lambda server: server.add_generic_rpc_handlers([_blocking_service(release, entered)]),
                  security=security({"/test.Slow/Call": MethodRule(roles=frozenset({"admin"}))}))
    await app.start()
    async with secure_channel(app.address) as channel:
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
