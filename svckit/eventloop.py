"""The event loop every process of the project runs on: uvloop (libuv), not asyncio's default selector loop.

grpc.aio, asyncpg and the services' own code spend a large share of their CPU in the event loop itself
(scheduling callbacks, waking tasks, socket readiness); uvloop does the same work in C, which leaves more of
the machine to the calls. The benchmark's ceilings and load generators run on it too, so their figures are
comparable with the services'.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a uvloop event loop."""
    return uvloop.run(main)


new_event_loop = uvloop.new_event_loop
