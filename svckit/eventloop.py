"""The event loop every process of the project runs on: uvloop (libuv), not asyncio's default selector loop.

grpc.aio, asyncpg and the services' own code spend a large share of their CPU in the event loop itself
(scheduling callbacks, waking tasks, socket readiness); uvloop does the same work in C, which leaves more of
the machine to the calls. The benchmark's ceilings and load generators run on it too, so their figures are
comparable with the services'.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop
from prometheus_client import Histogram

log = logging.getLogger("svckit.eventloop")

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a uvloop event loop."""
    return uvloop.run(main)


new_event_loop = uvloop.new_event_loop


LOOP_LAG_SECONDS = Histogram(
    "sparring_event_loop_lag_seconds",
    "How late the event loop ran a callback due at a fixed tick: the time every task and stream waited for the "
    "synchronous work before it.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
_LONG_LAG_SECONDS = 0.25


class LagMonitor:
    """Observes the event loop's lag every ``tick_seconds``: a sleep that wakes later than asked was held up by
    whatever ran on the loop meanwhile (a large synchronous step, a garbage collection)."""

    def __init__(self, tick_seconds: float = 0.05) -> None:
        self._tick = tick_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="event-loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(self._tick)  # the measuring tick itself, not synchronisation
            lag = max(0.0, time.perf_counter() - asked - self._tick)
            LOOP_LAG_SECONDS.observe(lag)
            if lag > _LONG_LAG_SECONDS:
                log.warning("the event loop ran %.0f ms late", lag * 1000)
