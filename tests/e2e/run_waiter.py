"""Waiting for background runs of the learning service by the NOTIFY each one sends when it ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from learning_svc.adapters.repositories import RUNS_CHANNEL
from svckit.notify import PgListener

# A bound, not a pace: a run simulates and audits several calls, which on a loaded two-core machine has taken most
# of a minute; it stays inside the suite's 120 s limit a test.
RUN_WAIT_SECONDS = 90


@contextlib.asynccontextmanager
async def run_waiter(database_url: str) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """``await wait(name)`` returns the final state of the run; runs that ended before are remembered."""
    done: dict[str, asyncio.Future] = {}

    def future(name: str) -> asyncio.Future:
        return done.setdefault(name, asyncio.get_running_loop().create_future())

    def heard(payload: str) -> None:
        parts = payload.split()  # "finished {organization} {name} {state}"
        if len(parts) == 4 and parts[0] == "finished" and not future(parts[2]).done():
            future(parts[2]).set_result(parts[3])

    listener = PgListener("learning-run-waiter", database_url, {RUNS_CHANNEL: heard})
    await listener.start()

    async def wait(name: str) -> str:
        async with asyncio.timeout(RUN_WAIT_SECONDS):
            return await asyncio.shield(future(name))

    try:
        yield wait
    finally:
        await listener.stop()
