"""Per-caller rate limits: a token bucket per (caller, method), refilled continuously.

Buckets live in the replica's memory: with N replicas behind a balancer a caller gets up to N times the limit,
which is what a limit meant to stop one caller from swamping a replica needs. The least recently used
buckets are dropped beyond ``max_callers`` (a dropped bucket comes back full).
"""

from __future__ import annotations

import time
from collections import OrderedDict

from prometheus_client import Counter

RATE_LIMITED = Counter("sparring_rate_limited_total", "Calls refused because their caller exceeded its rate limit.",
                       ("grpc_service", "grpc_method"))


class RateLimiter:
    def __init__(self, per_second: float, burst: int, max_callers: int = 100_000) -> None:
        self._rate = per_second
        self._burst = float(burst)
        self._max = max_callers
        self._buckets: OrderedDict[tuple[str, str], list[float]] = OrderedDict()  # key -> [tokens, at]

    def take(self, caller: str, method: str) -> float | None:
        """Takes one call from the caller's bucket: None if allowed, else how many seconds until one is."""
        now = time.monotonic()
        key = (caller, method)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [self._burst, now]
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket[0] = min(self._burst, bucket[0] + (now - bucket[1]) * self._rate)
            bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return None
        service, _, name = method.lstrip("/").rpartition("/")
        RATE_LIMITED.labels(service, name).inc()
        return (1.0 - bucket[0]) / self._rate if self._rate > 0 else 60.0
