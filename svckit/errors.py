"""Domain errors, raised by service layers and turned into rich gRPC statuses in one place.

A service layer raises one of these; the error interceptor maps it (``svckit.statuses``) to a
``google.rpc.Status`` carrying an ``ErrorInfo`` (domain, UPPER_SNAKE reason, metadata),
for bad input a ``BadRequest`` with one field violation per offending field, and for a refusal
worth retrying as is (a full server) a ``RetryInfo`` saying how long to wait first.
Plain Python, so that domain code can raise them without knowing of gRPC.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every expected failure; ``reason`` is an UPPER_SNAKE machine-readable code."""

    def __init__(self, message: str, reason: str = "FAILED", metadata: dict[str, str] | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.metadata = metadata or {}
        self.retry_after = retry_after  # seconds; set when the same request may succeed after that wait


class InvalidArgument(DomainError):
    def __init__(self, violations: list[FieldViolation] | FieldViolation, reason: str = "INVALID_ARGUMENT"):
        self.violations = [violations] if isinstance(violations, FieldViolation) else list(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(message=f"invalid request: {summary}", reason=reason)


class NotFound(DomainError):
    def __init__(self, resource_name: str, reason: str = "RESOURCE_NOT_FOUND"):
        super().__init__(message=f"{resource_name} not found", reason=reason, metadata={"resource": resource_name})


class AlreadyExists(DomainError):
    pass


class FailedPrecondition(DomainError):
    pass


class EtagMismatch(DomainError):
    def __init__(self, resource_name: str, sent: str, current: str):
        super().__init__(
            message=f"{resource_name} has changed since it was read (etag {sent!r}, now {current!r}); "
            "read it again and retry",
            reason="ETAG_MISMATCH",
            metadata={"resource": resource_name, "current_etag": current},
        )


class Aborted(DomainError):
    pass


class PermissionDenied(DomainError):
    pass


class Unauthenticated(DomainError):
    """The call carries no credentials, or credentials that do not prove who is calling."""


class Unavailable(DomainError):
    pass


class DeadlineExceeded(DomainError):
    pass


class ResourceExhausted(DomainError):
    """A limit of the server or the caller is reached; usually carries ``retry_after``."""


class Unimplemented(DomainError):
    pass


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
