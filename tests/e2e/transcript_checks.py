"""Checks shared by the transcript e2e tests: rich error statuses, and reading what the database holds."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass

import grpc
import pytest
import sqlalchemy as sa
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from tests.e2e.status_details import details_of

DOMAIN = "transcript.sparring.dev"
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@dataclass
class Rejection:
    error: grpc.aio.AioRpcError
    status: status_pb2.Status
    info: error_details_pb2.ErrorInfo
    violations: list[tuple[str, str]]

    @property
    def fields(self) -> list[str]:
        return [field for field, _ in self.violations]

    @property
    def reason(self) -> str:
        return self.info.reason


def _check_status(code: grpc.StatusCode, expected: grpc.StatusCode, details: str,
                  status: status_pb2.Status | None) -> Rejection:
    assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), details
    assert code == expected, f"{code}: {details}"
    assert details, "every rejection has a message"
    assert status is not None, "the status carries google.rpc details"
    assert status.code == expected.value[0] and status.message == details
    info, violations = details_of(status)
    assert info is not None, "every rejection carries an ErrorInfo"
    assert info.domain == DOMAIN
    assert info.reason and info.reason == info.reason.upper() and " " not in info.reason
    if expected == INVALID:
        assert violations, "INVALID_ARGUMENT carries BadRequest field violations"
        assert all(description for _, description in violations)
    return Rejection(None, status, info, violations)  # type: ignore[arg-type]


async def rejected(call: Awaitable, code: grpc.StatusCode) -> Rejection:
    """Awaits a unary call that must fail with ``code`` and a rich status; returns what the status says."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    error = raised.value
    rejection = _check_status(error.code(), code, error.details(), rpc_status.from_call(error))
    rejection.error = error
    return rejection


async def stream_ended_with(call: grpc.aio.StreamStreamCall, code: grpc.StatusCode) -> Rejection:
    """The status a stream ended with, checked as ``rejected`` checks a unary call's."""
    actual = await call.code()
    return _check_status(actual, code, await call.details(), await rpc_status.aio.from_call(call))


def session_id(name: str) -> str:
    return name.split("/")[1]


async def scalar(engine, sql: str, **params):
    async with engine.connect() as connection:
        return await connection.scalar(sa.text(sql), params)


async def all_rows(engine, sql: str, **params) -> list[tuple]:
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(sa.text(sql), params)]
