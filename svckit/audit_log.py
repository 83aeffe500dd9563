"""The audit log: one entry for every call of a method whose permission rule says it changes data, kept in the
service's own schema (``{schema}.audit_log``) and read by admins through ``AuditLogService``.

An entry is written after the call's result is known and before the answer goes out, whatever the result: a
crash after the answer cannot lose it. Concurrent calls share one INSERT (group commit): one writer task takes
everything queued and inserts it in a single statement, while the calls wait for their group, each at most
``write_timeout`` seconds. A write that fails or times out leaves the call's result as it is (the call
happened); it is logged and counted. Entries older than the retention are deleted every hour, a bounded
batch at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from prometheus_client import Counter, Histogram
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine

from svckit.context import SYSTEM, current_call
from svckit.db import autocommit
from svckit.names import valid_id
from svckit.pagination import PageTokens
from svckit.settings import ServiceSettings

log = logging.getLogger("svckit.audit_log")

ENTRIES_WRITTEN = Counter("sparring_audit_log_entries_written_total", "Audit log entries written.")
BATCH_SIZE = Histogram("sparring_audit_log_batch_size", "Audit log entries per INSERT.",
                       buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500))
WRITE_FAILURES = Counter("sparring_audit_log_write_failures_total",
                         "Audit log entries not known to be written: the INSERT failed, or the call stopped waiting "
                         "for it (timeout).", ("reason",))
ENTRIES_DELETED = Counter("sparring_audit_log_entries_deleted_total", "Audit log entries deleted after the retention.")
RETENTION_FAILURES = Counter("sparring_audit_log_retention_failures_total",
                             "Hourly deletions of expired audit log entries that failed.")

RETENTION_INTERVAL_SECONDS = 3600.0
DELETE_TIMEOUT_SECONDS = 10.0  # one bounded DELETE of the hourly deletion
# The request fields naming what a call is about, in order of preference; a message field counts by its own name.
_RESOURCE_FIELDS = ("name", "parent", "session", "persona")


def audit_log_table(schema: str) -> sa.Table:
    """The audit log table of ``schema``, with its index for listing an organization's entries newest first."""
    table = sa.Table(
        "audit_log", sa.MetaData(schema=schema),
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("organization", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("roles", ARRAY(sa.Text), nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("resource", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    sa.Index("audit_log_listing", table.c.organization, table.c.create_time.desc(), table.c.id.desc())
    sa.Index("audit_log_expiry", table.c.create_time)  # the hourly deletion finds old entries of every organization
    return table


def create_audit_log_table(schema: str) -> None:
    """In a migration: creates the audit log table of ``schema`` and its indexes."""
    from alembic import op

    audit_log_table(schema).create(op.get_bind())


def drop_audit_log_table(schema: str) -> None:
    """In a migration's downgrade: drops the audit log table of ``schema``."""
    from alembic import op

    audit_log_table(schema).drop(op.get_bind())


@dataclass(frozen=True, slots=True)
class AuditEntry:
    organization: str
    subject: str
    roles: tuple[str, ...]
    method: str
    resource: str
    request_id: str
    result: str
    reason: str
    create_time: datetime
    id: int = 0  # given by the database


@dataclass(frozen=True, slots=True)
class EntryFilters:
    """What a listing keeps: entries of ``organization`` matching every filter that is set."""

    organization: str
    method: str = ""
    subject: str = ""
    resource: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass(slots=True)
class _Pending:
    entry: AuditEntry
    written: asyncio.Future[bool] | None  # None: nobody waits for it


class AuditLog:
    """A service's audit log: the writer, the hourly deletion of expired entries and the listing."""

    def __init__(self, engine: AsyncEngine, schema: str, settings: ServiceSettings, max_batch: int = 500,
                 max_queued: int = 10_000, write_timeout: float = 2.0, delete_batch: int = 5_000,
                 also_expiring: tuple[str, ...] = ()) -> None:
        """``also_expiring``: other tables of ``schema`` (each with a ``create_time`` and an ``id``) kept as long as
        the audit log, their expired rows deleted by the same hourly job."""
        self.page_tokens = PageTokens.from_secret(settings.page_token_secret)
        self._engine = autocommit(engine)  # each INSERT and DELETE is one statement: no transaction around it
        self._table = audit_log_table(schema)
        self._insert = sa.text(f"""
            INSERT INTO "{schema}".audit_log (organization, subject, roles, method, resource, request_id, result,
                                              reason, create_time)
            SELECT organization, subject, roles, method, resource, request_id, result, reason, create_time
            FROM jsonb_to_recordset(CAST(:entries AS jsonb)) AS e(organization text, subject text, roles text[],
                method text, resource text, request_id text, result text, reason text, create_time timestamptz)
        """)
        self._delete_expired = [sa.text(f"""
            DELETE FROM "{schema}".{table} WHERE id IN (
                SELECT id FROM "{schema}".{table} WHERE create_time < now() - make_interval(days => :days)
                ORDER BY create_time LIMIT :batch FOR UPDATE SKIP LOCKED)
        """) for table in ("audit_log", *also_expiring)]
        self._retention_days = settings.audit_log_retention_days
        self._max_batch = max_batch
        self._delete_batch = delete_batch
        self._timeout = write_timeout
        # Bounded: while the database is slow, calls wait for room (up to their timeout) instead of memory growing.
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=max_queued)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._write_batches(), name="audit-log-writer"),
                       asyncio.create_task(self._delete_expired_hourly(), name="audit-log-retention")]

    async def stop(self) -> None:
        """Writes what is queued (for at most the write timeout), then stops."""
        try:
            await asyncio.wait_for(self._queue.join(), self._timeout)
        except TimeoutError:
            log.warning("stopping with %d audit log entries unwritten", self._queue.qsize())
            WRITE_FAILURES.labels("timeout").inc(self._queue.qsize())
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def write(self, entry: AuditEntry) -> None:
        """Returns once ``entry`` is durable, or once the write failed or took longer than the timeout (logged and
        counted); never raises for the write."""
        written: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self._timeout):
                await self._queue.put(_Pending(entry, written))
                await written
        except TimeoutError:
            WRITE_FAILURES.labels("timeout").inc()
            log.warning("audit log entry of %s not written within %.1fs", entry.method, self._timeout)

    def write_later(self, entry: AuditEntry) -> None:
        """Queues ``entry`` without waiting for it (a call that was cancelled has nobody to answer)."""
        try:
            self._queue.put_nowait(_Pending(entry, None))
        except asyncio.QueueFull:
            WRITE_FAILURES.labels("queue_full").inc()
            log.warning("audit log entry of %s dropped: the queue is full", entry.method)

    async def _write_batches(self) -> None:
        while True:
            # What queued up while the previous INSERT ran is the next group.
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                written = await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()
            for pending in batch:
                if pending.written is not None and not pending.written.done():
                    pending.written.set_result(written)

    async def _write(self, batch: list[_Pending]) -> bool:
        entries = json.dumps([_row(pending.entry) for pending in batch])
        try:
            async with asyncio.timeout(self._timeout), self._engine.connect() as connection:
                await connection.execute(self._insert, {"entries": entries})
        except Exception as error:  # the writer outlives any one group, or every later mutating call would wait
            WRITE_FAILURES.labels("write_failed").inc(len(batch))
            # The entries themselves, so that the log keeps what the table could not.
            log.error("audit log entries of %d calls not written (%r): %s", len(batch), error, entries)
            return False
        BATCH_SIZE.observe(len(batch))
        ENTRIES_WRITTEN.inc(len(batch))
        return True

    async def delete_expired(self) -> int:
        """Deletes the entries (and the rows of the tables also expiring) older than the retention, at most
        ``delete_batch`` per statement; returns how many."""
        deleted = 0
        for delete in self._delete_expired:
            while True:
                async with asyncio.timeout(DELETE_TIMEOUT_SECONDS), self._engine.connect() as connection:
                    result = await connection.execute(delete,
                                                      {"days": self._retention_days, "batch": self._delete_batch})
                ENTRIES_DELETED.inc(result.rowcount)
                deleted += result.rowcount
                if result.rowcount < self._delete_batch:
                    break
        return deleted

    async def _delete_expired_hourly(self) -> None:
        while True:
            try:
                await self.delete_expired()
            except Exception as error:
                RETENTION_FAILURES.inc()
                log.error("expired audit log entries not deleted; the next hour tries again: %r", error)
            await asyncio.sleep(RETENTION_INTERVAL_SECONDS)

    async def entries(self, filters: EntryFilters, after: list[Any] | None, limit: int) -> list[AuditEntry]:
        """Entries matching ``filters``, newest first, after the cursor ``after`` ([create_time, id])."""
        table = self._table
        query = sa.select(table).where(table.c.organization == filters.organization)
        for column, value in ((table.c.method, filters.method), (table.c.subject, filters.subject),
                              (table.c.resource, filters.resource)):
            if value:
                query = query.where(column == value)
        if filters.start_time is not None:
            query = query.where(table.c.create_time >= filters.start_time)
        if filters.end_time is not None:
            query = query.where(table.c.create_time < filters.end_time)
        if after:
            query = query.where(sa.tuple_(table.c.create_time, table.c.id)
                                < (datetime.fromisoformat(after[0]), int(after[1])))
        query = query.order_by(table.c.create_time.desc(), table.c.id.desc()).limit(limit)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [AuditEntry(**{**row, "roles": tuple(row["roles"])}) for row in rows]

    def of_method(self, method: str, request_type: Descriptor | None) -> MethodAudit:
        return MethodAudit(self, method, request_type)


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {"organization": entry.organization, "subject": entry.subject, "roles": list(entry.roles),
            "method": entry.method, "resource": entry.resource, "request_id": entry.request_id,
            "result": entry.result, "reason": entry.reason, "create_time": entry.create_time.isoformat()}


def _has_string(message_type: Descriptor, field: str) -> bool:
    found = message_type.fields_by_name.get(field)
    return found is not None and found.type == FieldDescriptor.TYPE_STRING and not found.is_repeated


def _names(message_type: Descriptor, preferred: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """Where a message of ``message_type`` names a resource: its string fields among ``preferred`` (in that order),
    then the ``name`` of each of its message fields (``preferred`` ones first)."""
    fields: Mapping[str, FieldDescriptor] = message_type.fields_by_name
    paths = [(f,) for f in preferred if _has_string(message_type, f)]
    nested = sorted((f for f in fields.values() if f.message_type is not None and not f.is_repeated
                     and _has_string(f.message_type, "name")), key=lambda f: f.name not in preferred)
    return (*paths, *((f.name, "name") for f in nested))


def _collection(resource_field: str) -> str:
    """A resource's collection id (AIP-122): its plural in lowerCamelCase, e.g. switching_rule -> switchingRules."""
    head, *rest = resource_field.split("_")
    camel = head + "".join(word.capitalize() for word in rest)
    return camel + ("es" if camel.endswith(("s", "x", "ch", "sh")) else "s")


def _requested_name(message_type: Descriptor) -> tuple[str, str] | None:
    """For a create request (AIP-133: the resource in field ``x``, its id chosen by the caller in ``x_id``): that id
    field and the collection it names a resource in; None when the request has no such pair."""
    for field in message_type.fields:
        resource = field.name.removesuffix("_id")
        nested = message_type.fields_by_name.get(resource)
        if (resource != field.name and _has_string(message_type, field.name) and nested is not None
                and nested.message_type is not None and not nested.is_repeated):
            return field.name, _collection(resource)
    return None


def _first_name(message: Any, paths: tuple[tuple[str, ...], ...]) -> str:
    for path in paths:
        value = message
        for part in path:
            value = getattr(value, part)
        if value:
            return str(value)
    return ""


class MethodAudit:
    """The audit log entries of one mutating method; where its requests and responses name their resource is
    worked out once, from the messages' descriptors."""

    __slots__ = ("_log", "_method", "_request_names", "_request_type", "_requested_name", "_response_names")

    def __init__(self, audit_log: AuditLog, method: str, request_type: Descriptor | None) -> None:
        self._log = audit_log
        self._method = method
        self._request_type = request_type
        self._request_names = _names(request_type, _RESOURCE_FIELDS) if request_type is not None else ()
        creates = method.rpartition("/")[2].startswith("Create")
        self._requested_name = _requested_name(request_type) if creates and request_type is not None else None
        self._response_names: dict[Descriptor, tuple[tuple[str, ...], ...]] = {}

    def _entry(self, request: Any, response: Any, result: str, reason: str) -> AuditEntry | None:
        call = current_call()
        principal = call.principal
        if principal is SYSTEM:  # refused before the caller was known (UNAUTHENTICATED): counted, not logged
            return None
        decoded = request if getattr(request, "DESCRIPTOR", None) is self._request_type else None
        resource = self._created(decoded) or (_first_name(decoded, self._request_names) if decoded is not None else "")
        if not resource and response is not None:  # a create: the resource it made
            paths = self._response_names.get(response.DESCRIPTOR)
            if paths is None:
                paths = self._response_names[response.DESCRIPTOR] = _names(response.DESCRIPTOR, ("name",))
            resource = _first_name(response, paths)
        request_id = call.request_id_if_known or str(getattr(decoded, "request_id", ""))
        return AuditEntry(principal.organization, principal.subject, tuple(sorted(principal.roles)), self._method,
                          resource, request_id, result, reason, datetime.now(UTC))

    def _created(self, request: Any) -> str:
        """The name a create request asks for, so that its entry names it even when the create is refused; empty
        when the caller leaves the id to the service or gives one that names nothing."""
        if request is None or self._requested_name is None:
            return ""
        id_field, collection = self._requested_name
        resource_id = getattr(request, id_field)
        return f"{collection}/{resource_id}" if valid_id(resource_id) else ""

    async def record(self, request: Any, response: Any, result: str, reason: str = "") -> None:
        """Writes the entry of the current call, which ended with ``result`` (a status code name) and ``reason``."""
        entry = self._entry(request, response, result, reason)
        if entry is not None:
            await self._log.write(entry)

    def record_later(self, request: Any, result: str) -> None:
        """Queues the entry of the current call, which was cancelled, without waiting for it."""
        entry = self._entry(request, None, result, "")
        if entry is not None:
            self._log.write_later(entry)
