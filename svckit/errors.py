"""Domain errors, raised by service layers and turned into rich gRPC statuses in one place.

A service layer raises one of these; the error interceptor maps it to a
``google.rpc.Status`` carrying an ``ErrorInfo`` (domain, UPPER_SNAKE reason, metadata),
for bad input a ``BadRequest`` with one field violation per offending field, and for a refusal
worth retrying as is (a full server) a ``RetryInfo`` saying how long to wait first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every expected failure; ``reason`` is an UPPER_SNAKE machine-readable code."""

    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, message: str, reason: str = "FAILED", metadata: dict[str, str] | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.metadata = metadata or {}
        self.retry_after = retry_after  # seconds; set when the same request may succeed after that wait


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: list[FieldViolation] | FieldViolation, reason: str = "INVALID_ARGUMENT"):
        self.violations = [violations] if isinstance(violations, FieldViolation) else list(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(message=f"invalid request: {summary}", reason=reason)


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, resource_name: str, reason: str = "RESOURCE_NOT_FOUND"):
        super().__init__(message=f"{resource_name} not found", reason=reason, metadata={"resource": resource_name})


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class EtagMismatch(DomainError):
    code = grpc.StatusCode.ABORTED

    def __init__(self, resource_name: str, sent: str, current: str):
        super().__init__(
            message=f"{resource_name} has changed since it was read (etag {sent!r}, now {current!r}); "
            "read it again and retry",
            reason="ETAG_MISMATCH",
            metadata={"resource": resource_name, "current_etag": current},
        )


class Aborted(DomainError):
    code = grpc.StatusCode.ABORTED


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE


class ResourceExhausted(DomainError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DeadlineExceeded(DomainError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Unimplemented(DomainError):
    code = grpc.StatusCode.UNIMPLEMENTED


def to_status_proto(error: DomainError, domain: str) -> status_pb2.Status:
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=domain, metadata=error.metadata)
    details = [_pack(info)]
    if isinstance(error, InvalidArgument):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in error.violations
            ]
        )
        details.append(_pack(bad_request))
    if error.retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromTimedelta(timedelta(seconds=error.retry_after))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return status_pb2.Status(code=error.code.value[0], message=error.message, details=details)


def _pack(message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


class Violations:
    """Collects every violation of a request, so one answer names all bad fields."""

    def __init__(self) -> None:
        self._items: list[FieldViolation] = []

    def add(self, field_path: str, description: str) -> None:
        self._items.append(FieldViolation(field_path, description))

    def require(self, condition: bool, field_path: str, description: str) -> None:
        if not condition:
            self.add(field_path, description)

    def __bool__(self) -> bool:
        return bool(self._items)

    def raise_if_any(self, reason: str = "INVALID_ARGUMENT") -> None:
        if self._items:
            raise InvalidArgument(self._items, reason)
