"""What a refused call says beyond its code (the ErrorInfo and the BadRequest field violations), and the checks
every refusal must pass."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


def details_of(status: status_pb2.Status | None) -> tuple[error_details_pb2.ErrorInfo | None, list[tuple[str, str]]]:
    """The status's ErrorInfo (None without one) and its (field, description) violations."""
    info = None
    violations: list[tuple[str, str]] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.extend((v.field, v.description) for v in bad_request.field_violations)
    return info, violations


def retry_delay_of(status: status_pb2.Status) -> float | None:
    """Seconds the status's RetryInfo asks a client to wait before retrying; None without one."""
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            return retry.retry_delay.ToTimedelta().total_seconds()
    return None


def reason_and_fields(error: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
    info, violations = details_of(rpc_status.from_call(error))
    return (info.reason if info is not None else ""), [field for field, _ in violations]


@dataclass
class Rejection:
    error: grpc.aio.AioRpcError | None  # None for a stream's final status
    status: status_pb2.Status
    info: error_details_pb2.ErrorInfo
    violations: list[tuple[str, str]]

    @property
    def fields(self) -> list[str]:
        return [field for field, _ in self.violations]

    @property
    def reason(self) -> str:
        return self.info.reason

    def description_of(self, field: str) -> str:
        return " | ".join(d for f, d in self.violations if f == field)


def checked_rejection(code: grpc.StatusCode, expected: grpc.StatusCode, details: str,
                      status: status_pb2.Status | None, domain: str) -> Rejection:
    """Asserts what every refusal carries: the expected code (never UNKNOWN or INTERNAL), a message, an ErrorInfo
    of the service's domain with an UPPER_SNAKE reason, and for INVALID_ARGUMENT described field violations."""
    assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), details
    assert code == expected, f"{code}: {details}"
    assert details, "every rejection has a message"
    assert status is not None, "the status carries google.rpc details"
    assert status.code == expected.value[0] and status.message == details
    info, violations = details_of(status)
    assert info is not None, "every rejection carries an ErrorInfo"
    assert info.domain == domain
    assert info.reason and info.reason == info.reason.upper() and " " not in info.reason
    if expected == grpc.StatusCode.INVALID_ARGUMENT:
        assert violations, "INVALID_ARGUMENT carries BadRequest field violations"
        assert all(description for _, description in violations)
    return Rejection(None, status, info, violations)


async def rejected_in(domain: str, call: Awaitable, code: grpc.StatusCode) -> Rejection:
    """Awaits a unary call that must fail with ``code`` and a rich status of ``domain``."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    error = raised.value
    rejection = checked_rejection(error.code(), code, error.details(), rpc_status.from_call(error), domain)
    rejection.error = error
    return rejection
