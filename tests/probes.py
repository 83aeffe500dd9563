"""What tests read off the machine and the process: a free port, the value of a metric."""

from __future__ import annotations

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
