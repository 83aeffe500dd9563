"""The guardrail check log of the transcript schema: appended in the transactions of what the checks decided, and
listed per session or per persona in time order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from guardrails.check_log import CheckDecision, CheckKind, GuardrailCheck
from transcript_svc.adapters import tables as t
from transcript_svc.service_layer.ports import CheckFilters

# The group commit's statement (asyncpg, in its own transaction): every check of a group in one INSERT.
INSERT_CHECKS = """
INSERT INTO transcript.guardrail_checks (organization, session_id, persona, policy, policy_revision, kind, decision,
                                         rule, input, actor, subject, create_time)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[],
                     $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[])
"""


def insert_arguments(checks: Sequence[GuardrailCheck]) -> list[list[Any]]:
    """The arrays ``INSERT_CHECKS`` takes, one per column."""
    return [[c.organization for c in checks], [c.session_id for c in checks], [c.persona for c in checks],
            [c.policy for c in checks], [c.policy_revision for c in checks], [c.kind.value for c in checks],
            [c.decision.value for c in checks], [c.rule for c in checks], [c.input for c in checks],
            [c.actor for c in checks], [c.subject for c in checks], [c.create_time for c in checks]]


def _check(row: Any) -> GuardrailCheck:
    return GuardrailCheck(
        organization=row.organization, session_id=row.session_id, persona=row.persona, policy=row.policy,
        policy_revision=row.policy_revision, kind=CheckKind(row.kind), decision=CheckDecision(row.decision),
        rule=row.rule, input=row.input, actor=row.actor, subject=row.subject, create_time=row.create_time, id=row.id)


class GuardrailCheckRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *checks: GuardrailCheck) -> None:
        if checks:
            await self._c.execute(t.guardrail_checks.insert().values([
                {"organization": c.organization, "session_id": c.session_id, "persona": c.persona,
                 "policy": c.policy, "policy_revision": c.policy_revision, "kind": c.kind.value,
                 "decision": c.decision.value, "rule": c.rule, "input": c.input, "actor": c.actor,
                 "subject": c.subject, "create_time": c.create_time} for c in checks]))

    async def list(self, filters: CheckFilters, after: tuple[datetime, int] | None,
                   limit: int) -> list[GuardrailCheck]:
        """The checks matching ``filters``, oldest first, after the cursor ``after`` (create_time, id)."""
        g = t.guardrail_checks.c
        query = sa.select(t.guardrail_checks).where(g.organization == filters.organization)
        if filters.session_id is not None:
            query = query.where(g.session_id == filters.session_id)
        if filters.persona is not None:
            query = query.where(g.persona == filters.persona)
        if filters.kind is not None:
            query = query.where(g.kind == filters.kind.value)
        if filters.decision is not None:
            query = query.where(g.decision == filters.decision.value)
        if after is not None:
            query = query.where(sa.tuple_(g.create_time, g.id) > sa.tuple_(*after))
        query = query.order_by(g.create_time, g.id).limit(limit)
        return [_check(row) for row in await self._c.execute(query)]
