"""Server bootstrap on grpc.aio: wrapped handlers, health per service, reflection, /metrics, graceful stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from prometheus_client import start_http_server
from sparring.auditlog.v1 import audit_log_service_pb2_grpc

from svckit.audit_log import AuditLog
from svckit.audit_log_service import SERVICE_NAME as AUDIT_LOG_SERVICE
from svckit.audit_log_service import AuditLogServicer
from svckit.guard import CallGuard
from svckit.interceptors import WrappedHandlers
from svckit.settings import DEFAULT_MAX_MESSAGE_BYTES
from svckit.transport import Security

log = logging.getLogger("svckit.server")

# The message size limits are each service's own (GrpcApp's fields, from its settings).
# A call that has arrived waits in grpc core until the server's event loop takes it, one at a time. Past
# grpc.server.max_pending_requests waiting calls (1000 by default; all refused from 3000) core cancels new
# ones before any handler sees them: a burst of 2,000 stream opens on a busy loop ended CANCELLED, or INTERNAL
# at Python clients still writing their first frame, with nothing logged. With this bound a burst waits for
# the loop instead, and each call is answered by the service itself (RESOURCE_EXHAUSTED with RetryInfo when
# it is full). Core still ends calls left waiting 30 s (grpc.server_max_unrequested_time_in_server).
MAX_PENDING_CALLS = 20_000

SERVER_OPTIONS = (
    ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
    ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_CALLS),
    ("grpc.so_reuseport", 0),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
)


REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def _declare_reflection_v1() -> None:
    """Adds grpc.reflection.v1 to the descriptor pool, so reflection describes it like any served service.

    v1 is v1alpha renamed, message for message and field for field (grpcio-reflection ships v1alpha only):
    the v1alpha file is declared again under the v1 package.
    """
    pool = descriptor_pool.Default()
    name = "grpc/reflection/v1/reflection.proto"
    try:
        pool.FindFileByName(name)
        return
    except KeyError:
        pass
    old, new = "grpc.reflection.v1alpha", "grpc.reflection.v1"
    file = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(file)
    file.name, file.package = name, new
    file.ClearField("options")
    for message in file.message_type:
        for message_field in message.field:
            if message_field.HasField("type_name"):
                message_field.type_name = message_field.type_name.replace(f".{old}.", f".{new}.")
    for method in file.service[0].method:
        method.input_type = method.input_type.replace(f".{old}.", f".{new}.")
        method.output_type = method.output_type.replace(f".{old}.", f".{new}.")
    pool.Add(file)


def _reflection_v1(servicer: reflection.aio.ReflectionServicer) -> grpc.GenericRpcHandler:
    """The v1alpha servicer under the v1 name: the same bytes on the wire (what grpcurl and current clients ask)."""
    return grpc.method_handlers_generic_handler(REFLECTION_V1, {
        "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString),
    })


class _Registrar:
    """What generated ``add_*_to_server`` functions see instead of the server.

    Each service's generic handler is registered with its methods wrapped (request context, metrics,
    error mapping; see ``svckit.interceptors``).

    The generated code also registers each service as "registered method handlers". grpc.aio keeps
    one waiting task per registered method and waits on all of them for every incoming call, a cost
    that grows with the number of methods (measured: ~12 us a call for the persona service's 19). The
    generic handler alone serves the same calls, so the registered copy is dropped.
    """

    def __init__(self, server: grpc.aio.Server, error_domain: str, guard: CallGuard,
                 audit_log: AuditLog | None = None) -> None:
        self._server = server
        self._domain = error_domain
        self._guard = guard
        self._audit_log = audit_log

    def add_generic_rpc_handlers(self, handlers) -> None:
        self._server.add_generic_rpc_handlers(tuple(WrappedHandlers(h, self._domain, self._guard, self._audit_log)
                                                    for h in handlers))

    def add_registered_method_handlers(self, service_name: str, method_handlers) -> None:
        """Deliberately ignored; see the class docstring."""


class _Health(health_aio.HealthServicer):
    """The standard health service, whose Watch streams end once the server stops taking calls: a load
    balancer's watch would otherwise hold the stop for the whole grace period, then be cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self._stopping = asyncio.Event()

    def end_watches(self) -> None:
        self._stopping.set()

    async def Watch(self, request, context) -> None:
        watching = asyncio.ensure_future(super().Watch(request, context))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((watching, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watching.cancel()
            stopping.cancel()
        if not watching.cancelled() and watching.done():
            watching.result()  # a failed write ends the call as it would have without the wrapper


@dataclass
class GrpcApp:
    """A grpc.aio server for one service: its servicers, health and reflection, each call wrapped.

    ``on_drain`` callbacks run once the drain delay is over and the server has stopped taking calls,
    so that long-lived streams end politely while in-flight unary calls finish, before the grace period
    cancels what remains; ``on_close`` callbacks run after the server has stopped (close pools, stop workers).

    With an ``audit_log``, every call of a method that changes data is written to it, and the server serves
    ``AuditLogService`` over it.
    """

    service_names: list[str]
    error_domain: str
    add_servicers: Callable[[grpc.aio.Server], None]
    security: Security
    host: str = "127.0.0.1"
    port: int = 0
    on_drain: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # grpc core refuses a bigger request, or fails the call of a bigger response, with RESOURCE_EXHAUSTED.
    max_receive_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_send_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    # A second, plaintext port serving health only, for probes that cannot speak TLS (Kubernetes' gRPC probes).
    health_port: int | None = None
    audit_log: AuditLog | None = None

    def __post_init__(self) -> None:
        if self.audit_log is not None:
            self.service_names = [*self.service_names, AUDIT_LOG_SERVICE]
        self.server = grpc.aio.server(options=(
            *SERVER_OPTIONS,
            ("grpc.max_receive_message_length", self.max_receive_message_bytes),
            ("grpc.max_send_message_length", self.max_send_message_bytes),
        ))
        self.health = _Health()
        registrar = _Registrar(self.server, self.error_domain, self.security.guard, self.audit_log)
        # grpc.aio asks the services in the order they were added: the busiest first.
        self.add_servicers(registrar)
        if self.audit_log is not None:
            audit_log_service_pb2_grpc.add_AuditLogServiceServicer_to_server(AuditLogServicer(self.audit_log),
                                                                              registrar)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, registrar)
        if self.security.guard.serves_reflection:
            # The aio servicer by name: enable_server_reflection picks it only when handed the server itself.
            _declare_reflection_v1()
            reflection_servicer = reflection.aio.ReflectionServicer(
                [*self.service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                 REFLECTION_V1, reflection.SERVICE_NAME])
            registrar.add_generic_rpc_handlers((_reflection_v1(reflection_servicer),))
            reflection_pb2_grpc.add_ServerReflectionServicer_to_server(reflection_servicer, registrar)
        self.health_server: grpc.aio.Server | None = None
        self.bound_port: int | None = None
        self.bound_health_port: int | None = None
        self._stopped = asyncio.Event()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.bound_port}"

    async def start(self) -> int:
        if self.audit_log is not None:
            await self.audit_log.start()
        address = f"{self.host}:{self.port}"
        credentials = self.security.server_credentials
        self.bound_port = (self.server.add_insecure_port(address) if credentials is None
                           else self.server.add_secure_port(address, credentials))
        await self.server.start()
        if self.health_port is not None:
            self.health_server = grpc.aio.server(options=SERVER_OPTIONS)
            health_pb2_grpc.add_HealthServicer_to_server(self.health, _Registrar(
                self.health_server, self.error_domain, self.security.guard))
            self.bound_health_port = self.health_server.add_insecure_port(f"{self.host}:{self.health_port}")
            await self.health_server.start()
        for name in ("", *self.service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving %s on %s (%s)", ", ".join(self.service_names), self.address,
                 "plaintext" if credentials is None else "TLS")
        return self.bound_port

    async def stop(self, grace: float = 5.0, drain: float = 0.0) -> None:
        """NOT_SERVING first, while calls are still served for ``drain`` seconds: long enough for load balancers
        and readiness probes to see it and send elsewhere. Then the port closes and in-flight calls have ``grace``
        seconds to finish, while long-lived streams are ended (``on_drain``); what is left is cancelled."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        await self.health.enter_graceful_shutdown()
        if drain:
            log.info("NOT_SERVING; still serving for %.1fs while load balancers take note", drain)
            await asyncio.sleep(drain)
        # grpc.aio refuses new calls at once and waits for the running ones; the streams among them are told to end.
        stopping = asyncio.ensure_future(self.server.stop(grace))
        self.health.end_watches()
        for end_streams in self.on_drain:
            await end_streams()
        await stopping
        if self.audit_log is not None:  # the calls that ended have queued their entries
            await self.audit_log.stop()
        if self.health_server is not None:
            await self.health_server.stop(0)
        for close in self.on_close:
            await close()
        log.info("stopped %s", ", ".join(self.service_names))

    async def wait(self) -> None:
        await self.server.wait_for_termination()


def start_metrics_endpoint(host: str, port: int) -> int:
    """Serves /metrics in a background thread; returns the bound port."""
    http_server, _thread = start_http_server(port, addr=host)
    return http_server.server_port


async def serve_until_signal(app: GrpcApp, grace: float, drain: float = 0.0,
                             signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT)) -> None:
    """Runs ``app`` until SIGTERM or SIGINT, then stops it gracefully (see ``GrpcApp.stop``)."""
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for sig in signals:
        loop.add_signal_handler(sig, stop_requested.set)
    await stop_requested.wait()
    log.info("shutdown requested; draining for %.1fs, then up to %.1fs for calls in flight", drain, grace)
    await app.stop(grace, drain)
