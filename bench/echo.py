"""The echo ceiling: its process and its call."""

from __future__ import annotations

import os
from pathlib import Path

import grpc

from bench import h2load
from bench.children import ChildProcess, environment, free_port, start_module, wait_until_ready
from bench.echo_server import FULL_METHOD
from bench.load import Call
from bench.security import SECURE, Mode


def start_server(root: Path, log_dir: Path, profile_to: Path | None = None,
                 wrapped: bool = False, mode: Mode = SECURE) -> tuple[ChildProcess, str]:
    """The echo server, with the TLS of ``mode``; ``wrapped``: each call wrapped as the services wrap theirs (to
    measure that alone)."""
    port = free_port()
    argv = ["bench.echo_server", "--port", str(port), *(["--svckit-wrapping"] if wrapped else [])]
    name = "echo server" + (" wrapped" if wrapped else "")
    child = start_module(mode.named(name), argv, root, log_dir / mode.log_name(name.replace(" ", "-")),
                         environment(mode.environment()), profile_to)
    return child, f"127.0.0.1:{port}"


async def wait_serving(child: ChildProcess, channel: grpc.aio.Channel, within: float = 30.0) -> None:
    method = channel.unary_unary(FULL_METHOD)

    async def answers() -> bool:
        return await method(b"ping", timeout=1.0) == b"ping"

    await wait_until_ready(child, answers, within)


def echo(payload_bytes: int):
    payload = os.urandom(payload_bytes)

    def make(channel: grpc.aio.Channel) -> Call:
        method = channel.unary_unary(FULL_METHOD)  # raw bytes both ways: no (de)serializers
        return lambda n: method(payload)

    return make


def h2load_plan(payload_bytes: int) -> h2load.Plan:
    payload = os.urandom(payload_bytes)
    return h2load.Plan("Echo", FULL_METHOD, payload, payload)
