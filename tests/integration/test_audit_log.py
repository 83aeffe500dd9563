"""The audit log's writer and retention on a real PostgreSQL: concurrent entries share one INSERT, a write that
fails or takes too long is counted and does not raise, and only entries past the retention are deleted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest_asyncio
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from persona_svc.app import SPEC as PERSONA
from svckit.audit_log import AuditEntry, AuditLog
from svckit.db import make_engine
from svckit.settings import ServiceSettings


@pytest_asyncio.fixture
async def engine(own_database_url) -> AsyncIterator[AsyncEngine]:
    """An engine on a database of the test's own, with the persona schema (and its audit log) migrated."""
    engine = make_engine(own_database_url, pool_size=2)
    await PERSONA.migrate(engine)
    yield engine
    await engine.dispose()


def entry(subject: str) -> AuditEntry:
    return AuditEntry("acme", subject, ("author",), "/sparring.persona.v1.PersonaService/DeletePersona",
                      "personas/p", "r", "OK", "", datetime.now(UTC))


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def subjects(engine: AsyncEngine, schema: str = "persona") -> list[str]:
    async with engine.connect() as connection:
        return list((await connection.scalars(sa.text(f"SELECT subject FROM {schema}.audit_log ORDER BY id"))).all())


async def test_concurrent_entries_are_written_in_one_insert(engine):
    audit_log = AuditLog(engine, "persona", ServiceSettings())
    await audit_log.start()
    inserts = sample("sparring_audit_log_batch_size_count")
    try:
        await asyncio.gather(*(audit_log.write(entry(f"caller-{n}")) for n in range(50)))
    finally:
        await audit_log.stop()
    assert sorted(await subjects(engine)) == sorted(f"caller-{n}" for n in range(50))
    assert sample("sparring_audit_log_batch_size_count") - inserts == 1


async def test_a_write_that_fails_is_counted_and_does_not_raise(engine):
    audit_log = AuditLog(engine, "no_such_schema", ServiceSettings())
    await audit_log.start()
    failures = sample("sparring_audit_log_write_failures_total", reason="write_failed")
    try:
        await audit_log.write(entry("caller"))
    finally:
        await audit_log.stop()
    assert sample("sparring_audit_log_write_failures_total", reason="write_failed") - failures == 1


async def test_a_write_not_done_in_time_is_counted_and_does_not_raise(engine):
    audit_log = AuditLog(engine, "persona", ServiceSettings(), write_timeout=0.05)  # not started: nothing writes
    timeouts = sample("sparring_audit_log_write_failures_total", reason="timeout")
    await audit_log.write(entry("caller"))
    assert sample("sparring_audit_log_write_failures_total", reason="timeout") - timeouts == 1


async def test_retention_deletes_only_entries_older_than_it_in_bounded_batches(engine):
    ages = {**{f"old-{n}": 31 for n in range(5)}, "recent": 29, "new": 0}
    async with engine.begin() as connection:
        await connection.execute(sa.text(
            "INSERT INTO persona.audit_log (organization, subject, roles, method, resource, request_id, result, "
            "reason, create_time) VALUES ('acme', :subject, '{}', 'm', '', '', 'OK', '', now() - make_interval("
            "days => :days))"), [{"subject": subject, "days": days} for subject, days in ages.items()])
    audit_log = AuditLog(engine, "persona", ServiceSettings(audit_log_retention_days=30), delete_batch=2)
    deleted = sample("sparring_audit_log_entries_deleted_total")
    assert await audit_log.delete_expired() == 5
    assert await subjects(engine) == ["recent", "new"]
    assert sample("sparring_audit_log_entries_deleted_total") - deleted == 5
