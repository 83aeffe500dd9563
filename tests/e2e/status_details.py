"""What a refused call says beyond its code: the ErrorInfo and the BadRequest field violations."""

from __future__ import annotations

import grpc
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


def reason_and_fields(error: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
    info, violations = details_of(rpc_status.from_call(error))
    return (info.reason if info is not None else ""), [field for field, _ in violations]
