"""The shared outbox dispatcher on a real PostgreSQL: the rows delivered together are marked done together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from svckit.db import make_engine
from svckit.outbox import OutboxDispatcher, OutboxQueries, OutboxTable

_TABLE = "outbox_test.items"
# What a delivery needs of a row, which need not be its id: the dispatcher marks rows by the id it takes itself.
_QUERIES = OutboxQueries.of(OutboxTable(_TABLE, fields="'item' AS kind", order="id"))


@pytest_asyncio.fixture
async def engine(own_database_url) -> AsyncIterator[AsyncEngine]:
    """An engine on a database of the test's own, with an outbox table."""
    engine = make_engine(own_database_url, pool_size=4)
    async with engine.begin() as connection:
        await connection.execute(sa.text("CREATE SCHEMA outbox_test"))
        await connection.execute(sa.text(f"""
CREATE TABLE {_TABLE} (
    id bigserial PRIMARY KEY, state text NOT NULL DEFAULT 'pending', attempts int NOT NULL DEFAULT 0,
    last_error text NOT NULL DEFAULT '', done_time timestamptz, next_attempt_time timestamptz NOT NULL DEFAULT now(),
    create_time timestamptz NOT NULL DEFAULT now())"""))
    yield engine
    await engine.dispose()


async def test_rows_delivered_together_are_marked_done_in_one_statement(engine):
    rows = 20
    async with engine.begin() as connection:
        await connection.execute(sa.text(f"INSERT INTO {_TABLE} (state) SELECT 'pending' FROM generate_series(1, :n)"),
                                 {"n": rows})
    calling, released = asyncio.Condition(), asyncio.Event()
    in_call = 0

    async def deliver(_row) -> None:
        nonlocal in_call
        async with calling:
            in_call += 1
            calling.notify_all()
        await released.wait()

    marks = []

    def on_execute(_connection, _cursor, statement, *_args) -> None:
        if statement.startswith(f"UPDATE {_TABLE} SET state = 'done'"):
            marks.append(statement)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    dispatcher = OutboxDispatcher("test", engine, _QUERIES, deliver, concurrency=rows)
    await dispatcher.start()
    try:
        async with calling:
            await calling.wait_for(lambda: in_call == rows)
        released.set()
    finally:
        await dispatcher.stop()  # lets the deliveries in hand finish and be marked
        sa.event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
    async with engine.connect() as connection:
        states = (await connection.scalars(sa.text(f"SELECT state FROM {_TABLE}"))).all()
    assert states == ["done"] * rows
    assert len(marks) == 1
