"""Switching rules (``analysis.switching_rules``), each read and written within one organization."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from analysis_svc.adapters import tables as t
from analysis_svc.domain.switching import SwitchingRule

_rules = t.switching_rules.c
# The most rules of an organization evaluated at a reading.
MAX_RULES = 200


def _rule(row: Any) -> SwitchingRule:
    return SwitchingRule(
        id=row.id, from_persona=row.from_persona, to_persona=row.to_persona,
        fallback_personas=tuple(row.fallback_personas), priority=row.priority, pattern=row.pattern,
        say_meter_below=row.say_meter_below, stage=row.stage, reason=row.reason, auto_apply=row.auto_apply,
        create_time=row.create_time)


class SwitchingRuleRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, organization: str, rule: SwitchingRule) -> bool:
        """False when the organization has a rule of that id already."""
        inserted = await self._c.scalar(insert(t.switching_rules).values(
            organization=organization, id=rule.id, from_persona=rule.from_persona, to_persona=rule.to_persona,
            fallback_personas=list(rule.fallback_personas), priority=rule.priority, pattern=rule.pattern,
            say_meter_below=rule.say_meter_below, stage=rule.stage, reason=rule.reason, auto_apply=rule.auto_apply,
            create_time=rule.create_time,
        ).on_conflict_do_nothing().returning(_rules.id))
        return inserted is not None

    async def get(self, organization: str, rule_id: str) -> SwitchingRule | None:
        """A rule that is not deleted."""
        row = (await self._c.execute(sa.select(t.switching_rules).where(
            _rules.organization == organization, _rules.id == rule_id, _rules.delete_time.is_(None)))).first()
        return _rule(row) if row else None

    async def active(self, organization: str) -> list[SwitchingRule]:
        """The organization's rules, highest priority first."""
        rows = await self._c.execute(sa.select(t.switching_rules).where(
            _rules.organization == organization, _rules.delete_time.is_(None),
        ).order_by(_rules.priority.desc(), _rules.create_time, _rules.id).limit(MAX_RULES))
        return [_rule(row) for row in rows]

    async def delete(self, organization: str, rule_id: str, when: datetime) -> bool:
        deleted = await self._c.execute(t.switching_rules.update().where(
            _rules.organization == organization, _rules.id == rule_id, _rules.delete_time.is_(None),
        ).values(delete_time=when))
        return deleted.rowcount > 0
