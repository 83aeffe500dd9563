"""Checks shared by the transcript e2e tests: rich error statuses, and reading what the database holds."""

from __future__ import annotations

from collections.abc import Awaitable

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
