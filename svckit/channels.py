"""Channels from one service to another: the one place their options are set.

Calls between services spread over every replica of the callee: the address resolves through DNS (a headless
Kubernetes Service lists each pod), and the channel balances round robin over all of them. With one long-lived
HTTP/2 connection and the default pick-first policy, every call of a replica would go to the same callee pod.
"""

from __future__ import annotations

import grpc

SERVICE_CHANNEL_OPTIONS = (
    ("grpc.lb_policy_name", "round_robin"),
    # A callee that scaled up is found without waiting for a connection to fail: DNS is asked again this often.
    ("grpc.dns_min_time_between_resolutions_ms", 30_000),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
)


def service_channel(address: str) -> grpc.aio.Channel:
    """A channel to another service at ``address`` (``host:port``), balanced over every address it resolves to."""
    return grpc.aio.insecure_channel(address, options=SERVICE_CHANNEL_OPTIONS)
