"""A reading's window that the transcript service cannot read in time, or at all, is left out of the request (the
analysis service then reads it back) and counted."""

from __future__ import annotations

import sqlalchemy as sa

from svckit.db import autocommit, make_engine
from tests.probes import free_port, metric
from transcript_svc.adapters.reading_windows import ReadingWindows
from transcript_svc.adapters.unit_of_work import DatabaseUnitOfWork


def _reads(result: str) -> float:
    return metric("sparring_transcript_reading_window_reads_total", result=result)


async def test_a_window_held_up_past_the_timeout_is_left_out(engine, transcript_schema):
    windows = ReadingWindows(lambda: DatabaseUnitOfWork(autocommit(engine)), timeout_seconds=0.2)
    timeouts = _reads("timeout")
    async with engine.connect() as holder, holder.begin():
        # Every read of a session waits for this lock, past the window's timeout.
        await holder.execute(sa.text("LOCK TABLE transcript.sessions IN ACCESS EXCLUSIVE MODE"))
        assert await windows.window("acme", "held-up", 10) is None
    assert _reads("timeout") == timeouts + 1


async def test_a_window_whose_database_cannot_be_reached_is_left_out():
    unreachable = make_engine(f"postgresql://nobody@127.0.0.1:{free_port()}/nothing")
    windows = ReadingWindows(lambda: DatabaseUnitOfWork(autocommit(unreachable)), timeout_seconds=5)
    failed = _reads("failed")
    try:
        assert await windows.window("acme", "unreachable", 10) is None
    finally:
        await unreachable.dispose()
    assert _reads("failed") == failed + 1
