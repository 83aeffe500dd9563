"""A Sparring service as a child process (``python -m <package>`` on free ports), and readiness probes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.children import ChildProcess, environment, free_port, start_module, wait_until_ready
from bench.security import SECURE, Mode


def start_service(package: str, env_prefix: str, root: Path, database_url: str, log_path: Path,
                  profile_to: Path | None = None, variant: tuple[str, ...] = (),
                  env: dict[str, str | None] | None = None, name: str = "",
                  mode: Mode = SECURE, under: Sequence[str] = ()) -> tuple[ChildProcess, str]:
    """``python -m PACKAGE`` on free ports (``{env_prefix}_GRPC_PORT``, ``{env_prefix}_METRICS_PORT``),
    ``LOG_LEVEL=WARNING``, with the TLS and tokens of ``mode`` (or in development mode); with ``variant`` flags,
    through ``bench.variant`` (diagnosis); with ``profile_to``, under cProfile. ``env``: more variables (None
    values remove one); ``under``: a command the interpreter runs under (``bench.children.start_module``)."""
    grpc_port, metrics_port = free_port(), free_port()
    settings = environment({
        **mode.environment(),
        "DATABASE_URL": database_url,
        f"{env_prefix}_GRPC_PORT": str(grpc_port),
        f"{env_prefix}_METRICS_PORT": str(metrics_port),
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    })
    argv = ["bench.variant", *variant, package] if variant else [package]
    child = start_module(name or package, argv, root, log_path, settings, profile_to, under)
    return child, f"127.0.0.1:{grpc_port}"


async def wait_healthy(child: ChildProcess, channel: grpc.aio.Channel, service_name: str,
                       within: float = 90.0) -> None:
    """Until the standard health service reports ``service_name`` SERVING (a service migrates first)."""
    health = health_pb2_grpc.HealthStub(channel)

    async def serving() -> bool:
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service_name), timeout=1.0)
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    await wait_until_ready(child, serving, within)


async def wait_listening(child: ChildProcess, channel: grpc.aio.Channel, within: float = 30.0) -> None:
    """Until the channel connects: for the bare servers, which listen only once ready to serve."""

    async def connected() -> bool:
        await asyncio.wait_for(channel.channel_ready(), 1.0)
        return True

    await wait_until_ready(child, connected, within)
