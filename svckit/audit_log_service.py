"""AuditLogService, served by every service over its own audit log: proto <-> ``svckit.audit_log``."""

from __future__ import annotations

from sparring.auditlog.v1 import audit_log_service_pb2 as pb
from sparring.auditlog.v1 import audit_log_service_pb2_grpc

from svckit.audit_log import AuditEntry, AuditLog, EntryFilters
from svckit.context import current_call
from svckit.errors import Violations
from svckit.pagination import page_size
from svckit.times import time_of, timestamp

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["AuditLogService"].full_name
MAX_FILTER_LENGTH = 500


def _entry_message(entry: AuditEntry) -> pb.AuditLogEntry:
    return pb.AuditLogEntry(name=f"auditLogEntries/{entry.id}", subject=entry.subject, roles=entry.roles,
                            method=entry.method, resource=entry.resource, request_id=entry.request_id,
                            result=entry.result, reason=entry.reason, create_time=timestamp(entry.create_time))


def _filters(request: pb.ListAuditLogEntriesRequest) -> EntryFilters:
    violations = Violations()
    for field in ("method", "subject", "resource"):
        value = getattr(request, field)
        violations.require(len(value) <= MAX_FILTER_LENGTH, field, f"must be at most {MAX_FILTER_LENGTH} characters")
        violations.require("\x00" not in value, field, "must not contain NUL characters")
    start = time_of(request.start_time, "start_time", violations) if request.HasField("start_time") else None
    end = time_of(request.end_time, "end_time", violations) if request.HasField("end_time") else None
    if start is not None and end is not None:
        violations.require(start < end, "end_time", "must be after start_time")
    violations.raise_if_any()
    return EntryFilters(current_call().organization, request.method, request.subject, request.resource, start, end)


class AuditLogServicer(audit_log_service_pb2_grpc.AuditLogServiceServicer):
    def __init__(self, audit_log: AuditLog) -> None:
        self._log = audit_log

    async def ListAuditLogEntries(self, request: pb.ListAuditLogEntriesRequest,
                                  context: object) -> pb.ListAuditLogEntriesResponse:
        size = page_size(request.page_size)
        filters = _filters(request)
        tokens = self._log.page_tokens
        after = tokens.decode(request.page_token, filters)
        fetched = await self._log.entries(filters, after, size + 1)
        kept, next_token = tokens.page(fetched, size, lambda e: [e.create_time.isoformat(), e.id], filters)
        return pb.ListAuditLogEntriesResponse(audit_log_entries=[_entry_message(e) for e in kept],
                                              next_page_token=next_token)
