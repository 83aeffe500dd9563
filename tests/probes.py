"""What tests read off the machine and the process: a free port, the value of a metric, a bounded poll of what
offers no event to wait on."""

from __future__ import annotations

import asyncio
import socket

from prometheus_client import REGISTRY


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (a server binds it a moment later, or nothing listens on it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def metric(name: str, **labels: str) -> float:
    """The value of a metric of this process (0 before it was first counted)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def poll(condition, describe, attempts: int = 1000, interval: float = 0.02) -> None:
    """Bounded polling of something that offers no event to wait on (a metrics endpoint, pg_stat_activity)."""
    for _ in range(attempts):
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out polling\n{describe()}")
