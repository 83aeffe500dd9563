"""Checks shared by the transcript e2e tests: rich error statuses, and reading what the database holds."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Iterator

import grpc
import sqlalchemy as sa
from grpc_status import rpc_status

from tests.e2e.status_details import Rejection, checked_rejection, rejected_in

DOMAIN = "transcript.sparring.dev"
INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def rejected(call: Awaitable, code: grpc.StatusCode) -> Rejection:
    """Awaits a unary call that must fail with ``code`` and a rich status; returns what the status says."""
    return await rejected_in(DOMAIN, call, code)


async def stream_ended_with(call: grpc.aio.StreamStreamCall, code: grpc.StatusCode) -> Rejection:
    """The status a stream ended with, checked as ``rejected`` checks a unary call's."""
    actual = await call.code()
    return checked_rejection(actual, code, await call.details(), await rpc_status.aio.from_call(call), DOMAIN)


def session_id(name: str) -> str:
    return name.split("/")[1]


async def scalar(engine, sql: str, **params):
    async with engine.connect() as connection:
        return await connection.scalar(sa.text(sql), params)


async def all_rows(engine, sql: str, **params) -> list[tuple]:
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(sa.text(sql), params)]


@contextlib.contextmanager
def statements_run(engine) -> Iterator[list[str]]:
    """Every statement ``engine`` runs while the block runs, in order, with "COMMIT" for each commit."""
    ran: list[str] = []

    def on_execute(_connection, _cursor, statement: str, *_) -> None:
        ran.append(statement)

    def on_commit(_connection) -> None:
        ran.append("COMMIT")

    listeners = [("before_cursor_execute", on_execute), ("commit", on_commit)]
    for name, listener in listeners:
        sa.event.listen(engine.sync_engine, name, listener)
    try:
        yield ran
    finally:
        for name, listener in listeners:
            sa.event.remove(engine.sync_engine, name, listener)


def commands_touched_after_the_commit(ran: list[str], writing: str) -> list[str]:
    """The statements on the commands table that ran after the commit of the last transaction whose statements
    held ``writing``."""
    wrote = max(index for index, statement in enumerate(ran) if writing in statement)
    committed = ran.index("COMMIT", wrote)
    return [statement for statement in ran[committed + 1:] if "transcript.commands" in statement]
