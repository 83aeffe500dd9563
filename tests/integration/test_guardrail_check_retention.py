"""The guardrail check log is kept as long as the audit log: the audit log's hourly job deletes its rows past the
retention too, in bounded batches, and counts them."""

from __future__ import annotations

import sqlalchemy as sa

from svckit.audit_log import AuditLog
from svckit.settings import ServiceSettings
from tests.builders import uid
from tests.integration.test_audit_log import sample


async def test_the_audit_log_retention_deletes_guardrail_checks_older_than_it(engine, transcript_schema):
    organization = f"org-{uid()}"
    ages = {**{f"old-{n}": 31 for n in range(3)}, "recent": 29, "new": 0}
    async with engine.begin() as connection:
        await connection.execute(sa.text(
            "INSERT INTO transcript.guardrail_checks (organization, session_id, persona, policy, policy_revision,"
            " kind, decision, rule, input, actor, subject, create_time) VALUES (:organization, :session, 'personas/p',"
            " '', 0, 'preflight', 'denied', 'blocked_actions', 'CURVEBALL', 'a', '', now() - make_interval("
            "days => :days))"), [{"organization": organization, "session": session, "days": days}
                                 for session, days in ages.items()])
    audit_log = AuditLog(engine, "transcript", ServiceSettings(audit_log_retention_days=30), delete_batch=2,
                         also_expiring=("guardrail_checks",))
    deleted = sample("sparring_audit_log_entries_deleted_total")

    assert await audit_log.delete_expired() >= 3

    async with engine.connect() as connection:
        kept = (await connection.execute(sa.text(
            "SELECT session_id FROM transcript.guardrail_checks WHERE organization = :organization ORDER BY id"),
            {"organization": organization})).scalars().all()
    assert kept == ["recent", "new"]
    assert sample("sparring_audit_log_entries_deleted_total") - deleted >= 3
