"""The guardrail check log of the transcript schema, appended in the transactions of what the checks decided and
listed per session or per persona in time order; and the sessions' risk scores the checks add to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from guardrails.check_log import CheckDecision, CheckKind, CheckScope, GuardrailCheck
from guardrails.risk import MAX_RISK
from svckit.db import LastWrites
from transcript_svc.adapters import tables as t
from transcript_svc.domain.model import RISK_KIND
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


# Adds the risk of checks to their sessions, up to MAX_RISK, in one statement: the first addition that takes a session
# to its alert score sets its alert time and logs the alert; each new score is queued (outbox kind ``risk``) for the
# analysis service's watchers. The sessions are locked in a fixed order, as the group commit locks them. Returns the
# sessions whose score changed.
_ADD_RISK = f"""
WITH added AS (
    SELECT organization, session_id, sum(points)::int AS points, max(alert_score) AS alert_score,
           max(persona) AS persona, max(policy) AS policy, max(policy_revision) AS policy_revision, max(actor) AS actor
    FROM unnest(CAST({{0}} AS text[]), CAST({{1}} AS text[]), CAST({{2}} AS int[]), CAST({{3}} AS int[]),
                CAST({{4}} AS text[]), CAST({{5}} AS text[]), CAST({{6}} AS bigint[]), CAST({{7}} AS text[]))
        AS a(organization, session_id, points, alert_score, persona, policy, policy_revision, actor)
    WHERE points > 0
    GROUP BY organization, session_id
), before AS (
    SELECT s.organization, s.id, s.risk_alert_time FROM transcript.sessions s
    JOIN added a ON a.organization = s.organization AND a.session_id = s.id
    ORDER BY s.organization, s.id FOR UPDATE OF s
), changed AS (
    UPDATE transcript.sessions s
    SET risk_score = LEAST({MAX_RISK}, s.risk_score + a.points),
        risk_alert_time = CASE WHEN s.risk_alert_time IS NULL AND a.alert_score > 0
                                    AND LEAST({MAX_RISK}, s.risk_score + a.points) >= a.alert_score THEN now()
                               ELSE s.risk_alert_time END
    FROM added a JOIN before b ON b.organization = a.organization AND b.id = a.session_id
    WHERE s.organization = a.organization AND s.id = a.session_id AND s.risk_score < {MAX_RISK}
    RETURNING s.organization, s.id, s.risk_score, s.risk_alert_time, a.alert_score, a.persona, a.policy,
              a.policy_revision, a.actor, b.risk_alert_time IS NULL AND s.risk_alert_time IS NOT NULL AS alerted
), queued AS (
    INSERT INTO transcript.outbox (organization, session_id, kind, up_to_sequence)
    SELECT organization, id, '{RISK_KIND}', risk_score FROM changed
    ON CONFLICT (organization, session_id, kind, up_to_sequence) DO NOTHING
), alerts AS (
    INSERT INTO transcript.guardrail_checks (organization, session_id, persona, policy, policy_revision, kind, decision,
                                             rule, input, actor, subject, create_time)
    SELECT organization, id, persona, policy, policy_revision, '{CheckKind.RISK.value}',
           '{CheckDecision.ALERTED.value}', 'escalation_threshold', 'risk ' || risk_score || ' of ' || alert_score,
           actor, 'sessions/' || id,
           risk_alert_time
    FROM changed WHERE alerted
)
SELECT organization, id, risk_score, alerted FROM changed
"""
# The same statement for asyncpg (the group commit) and for SQLAlchemy (units of work).
ADD_RISK = _ADD_RISK.format(*(f"${n}" for n in range(1, 9)))
_ADD_RISK_BOUND = sa.text(_ADD_RISK.format(*(f":a{n}" for n in range(8))))


@dataclass(frozen=True, slots=True)
class RiskAdded:
    """Points of risk added to a session by checks made in ``scope``."""

    scope: CheckScope
    points: int


def risk_arguments(added: Sequence[RiskAdded]) -> list[list[Any]]:
    """The arrays ``ADD_RISK`` takes."""
    return [[a.scope.organization for a in added], [a.scope.session_id for a in added], [a.points for a in added],
            [a.scope.alert_score for a in added], [a.scope.persona for a in added], [a.scope.policy for a in added],
            [a.scope.policy_revision for a in added], [a.scope.actor for a in added]]


def _check(row: Any) -> GuardrailCheck:
    return GuardrailCheck(
        organization=row.organization, session_id=row.session_id, persona=row.persona, policy=row.policy,
        policy_revision=row.policy_revision, kind=CheckKind(row.kind), decision=CheckDecision(row.decision),
        rule=row.rule, input=row.input, actor=row.actor, subject=row.subject, create_time=row.create_time, id=row.id)


class GuardrailCheckRepository:
    def __init__(self, connection: AsyncConnection, last_writes: LastWrites) -> None:
        self._c = connection
        self._last_writes = last_writes

    async def add(self, *checks: GuardrailCheck) -> None:
        """Logged with the transaction's last writes."""
        if checks:
            self._last_writes.add(t.guardrail_checks.insert().values([
                {"organization": c.organization, "session_id": c.session_id, "persona": c.persona,
                 "policy": c.policy, "policy_revision": c.policy_revision, "kind": c.kind.value,
                 "decision": c.decision.value, "rule": c.rule, "input": c.input, "actor": c.actor,
                 "subject": c.subject, "create_time": c.create_time} for c in checks]))

    async def add_risk(self, scope: CheckScope, points: int) -> bool:
        """Adds ``points`` to the session's risk; whether its score changed (and so is queued for its watchers)."""
        if points <= 0:
            return False
        arguments = risk_arguments([RiskAdded(scope, points)])
        result = await self._c.execute(_ADD_RISK_BOUND, {f"a{n}": value for n, value in enumerate(arguments)})
        return bool(result.all())

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
