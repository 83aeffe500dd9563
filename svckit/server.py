"""Server bootstrap on grpc.aio: wrapped handlers, health per service, reflection, /metrics, graceful stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from prometheus_client import start_http_server

from svckit.interceptors import WrappedHandlers

log = logging.getLogger("svckit.server")

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
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
)


class _Registrar:
    """What generated ``add_*_to_server`` functions see instead of the server.

    Each service's generic handler is registered with its methods wrapped (request context, metrics,
    error mapping; see ``svckit.interceptors``).

    The generated code also registers each service as "registered method handlers". grpc.aio keeps
    one waiting task per registered method and waits on all of them for every incoming call, a cost
    that grows with the number of methods (measured: ~12 us a call for the persona service's 19). The
    generic handler alone serves the same calls, so the registered copy is dropped.
    """

    def __init__(self, server: grpc.aio.Server, error_domain: str) -> None:
        self._server = server
        self._domain = error_domain

    def add_generic_rpc_handlers(self, handlers) -> None:
        self._server.add_generic_rpc_handlers(tuple(WrappedHandlers(h, self._domain) for h in handlers))

    def add_registered_method_handlers(self, service_name: str, method_handlers) -> None:
        """Deliberately ignored; see the class docstring."""


@dataclass
class GrpcApp:
    """A grpc.aio server for one service: its servicers, health and reflection, each call wrapped.

    ``on_drain`` callbacks run when shutdown begins (health already NOT_SERVING), so that
    long-lived streams can end politely before the grace period cancels what remains;
    ``on_close`` callbacks run after the server has stopped (close pools, stop workers).
    """

    service_names: list[str]
    error_domain: str
    add_servicers: Callable[[grpc.aio.Server], None]
    host: str = "127.0.0.1"
    port: int = 0
    on_drain: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = grpc.aio.server(options=SERVER_OPTIONS)
        self.health = health_aio.HealthServicer()
        registrar = _Registrar(self.server, self.error_domain)
        # grpc.aio asks the services in the order they were added: the busiest first.
        self.add_servicers(registrar)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, registrar)
        # The aio servicer by name: enable_server_reflection picks it only when handed the server itself.
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer(
                [*self.service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                 reflection.SERVICE_NAME]),
            registrar,
        )
        self.bound_port: int | None = None
        self._stopped = asyncio.Event()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.bound_port}"

    async def start(self) -> int:
        self.bound_port = self.server.add_insecure_port(f"{self.host}:{self.port}")
        await self.server.start()
        for name in ("", *self.service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving %s on %s", ", ".join(self.service_names), self.address)
        return self.bound_port

    async def stop(self, grace: float = 5.0) -> None:
        """NOT_SERVING first (load balancers stop sending), then drain, then stop."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        await self.health.enter_graceful_shutdown()
        for drain in self.on_drain:
            await drain()
        await self.server.stop(grace)
        for close in self.on_close:
            await close()
        log.info("stopped %s", ", ".join(self.service_names))

    async def wait(self) -> None:
        await self.server.wait_for_termination()


def start_metrics_endpoint(host: str, port: int) -> int:
    """Serves /metrics in a background thread; returns the bound port."""
    http_server, _thread = start_http_server(port, addr=host)
    return http_server.server_port


async def serve_until_signal(app: GrpcApp, grace: float,
                             signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT)) -> None:
    """Runs ``app`` until SIGTERM or SIGINT, then stops it gracefully."""
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for sig in signals:
        loop.add_signal_handler(sig, stop_requested.set)
    await stop_requested.wait()
    log.info("shutdown requested; draining for up to %.1fs", grace)
    await app.stop(grace)
