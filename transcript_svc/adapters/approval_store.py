"""The approvals of the transcript schema, and the state of the commands they hold."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from transcript_svc.adapters import tables as t
from transcript_svc.domain.approvals import Approval, ApprovalState, HeldHandoff
from transcript_svc.domain.model import CommandState, CommandType

_a, _h = t.approvals.c, t.handoffs.c
# An approval of a HANDOFF holds the handoff its command carries: what it would do is read from that handoff's packet.
_WITH_HANDOFF = t.approvals.outerjoin(t.handoffs, sa.and_(
    _h.organization == _a.organization, _h.session_id == _a.session_id, _h.command_id == _a.id))
_HANDOFF_COLUMNS = (_h.id.label("handoff_id"), _h.packet["from_persona"].astext.label("handoff_from"),
                    _h.packet["accepted_persona"].astext.label("handoff_to"),
                    _h.packet["reason"].astext.label("handoff_reason"))


def _approval(row: Any) -> Approval:
    handoff_id = getattr(row, "handoff_id", None)
    return Approval(
        session_id=row.session_id, id=row.id, action=CommandType(row.action), requester=row.requester, rule=row.rule,
        policy=row.policy, policy_revision=row.policy_revision, state=ApprovalState(row.state),
        create_time=row.create_time, expire_time=row.expire_time, decider=row.decider, decide_time=row.decide_time,
        decision_reason=row.decision_reason, escalated_to=row.escalated_to,
        handoff=HeldHandoff(f"sessions/{row.session_id}/handoffs/{handoff_id}", row.handoff_from, row.handoff_to,
                            row.handoff_reason) if handoff_id else None,
    )


def _key(organization: str, session_id: str, approval_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    a = t.approvals.c
    return a.organization == organization, a.session_id == session_id, a.id == approval_id


class ApprovalRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, organization: str, approval: Approval) -> None:
        await self._c.execute(t.approvals.insert().values(
            organization=organization, session_id=approval.session_id, id=approval.id, action=approval.action.value,
            requester=approval.requester, rule=approval.rule, policy=approval.policy,
            policy_revision=approval.policy_revision, state=approval.state.value, create_time=approval.create_time,
            expire_time=approval.expire_time, decider="", decision_reason="", escalated_to="",
        ))

    async def get(self, organization: str, session_id: str, approval_id: str, *,
                  for_update: bool = False) -> Approval | None:
        query = sa.select(t.approvals, *_HANDOFF_COLUMNS).select_from(_WITH_HANDOFF).where(
            *_key(organization, session_id, approval_id))
        row = (await self._c.execute(query.with_for_update(of=t.approvals) if for_update else query)).first()
        return _approval(row) if row else None

    async def list(self, organization: str, session_id: str | None, queue: str | None, state: str | None,
                   after: tuple[datetime, str, str] | None, limit: int) -> list[tuple[str, Approval]]:
        """A session's approvals, or those last escalated to ``queue``, each with its session's persona, ordered by
        (create_time, session, id) after ``after``."""
        a, s = t.approvals.c, t.sessions.c
        query = (sa.select(t.approvals, s.persona.label("persona"), *_HANDOFF_COLUMNS).select_from(_WITH_HANDOFF)
                 .join(t.sessions, sa.and_(s.organization == a.organization, s.id == a.session_id))
                 .where(a.organization == organization).order_by(a.create_time, a.session_id, a.id).limit(limit))
        if session_id is not None:
            query = query.where(a.session_id == session_id)
        if queue is not None:
            query = query.where(a.escalated_to == queue)
        if state:
            query = query.where(a.state == state)
        if after is not None:
            query = query.where(sa.tuple_(a.create_time, a.session_id, a.id) > sa.tuple_(*after))
        return [(row.persona, _approval(row)) for row in await self._c.execute(query)]

    async def due(self, now: datetime, limit: int) -> builtins.list[tuple[str, str, Approval]]:
        """Pending approvals past their expiry, each with its organization and session's persona; locked, skipping
        those another replica is expiring."""
        a, s = t.approvals.c, t.sessions.c
        rows = await self._c.execute(
            sa.select(t.approvals, s.persona.label("persona"), *_HANDOFF_COLUMNS).select_from(_WITH_HANDOFF)
            .join(t.sessions, sa.and_(s.organization == a.organization, s.id == a.session_id))
            .where(a.state == ApprovalState.PENDING.value, a.expire_time <= now)
            .order_by(a.expire_time).limit(limit).with_for_update(of=t.approvals, skip_locked=True))
        return [(row.organization, row.persona, _approval(row)) for row in rows]

    async def escalate(self, organization: str, approval: Approval) -> None:
        """Stores the step the approval was handed to, and its new expiry."""
        await self._c.execute(t.approvals.update().where(*_key(organization, approval.session_id, approval.id)).values(
            escalated_to=approval.escalated_to, expire_time=approval.expire_time))

    async def refuse_pending(self, organization: str, session_id: str, when: datetime,
                             reason: str) -> builtins.list[Approval]:
        """Refuses the session's approvals still pending, and their commands; those refused. One decided meanwhile
        (its row locked by the decision) is left as decided."""
        a, c = t.approvals.c, t.commands.c
        rows = await self._c.execute(t.approvals.update().where(
            a.organization == organization, a.session_id == session_id, a.state == ApprovalState.PENDING.value,
        ).values(state=ApprovalState.REFUSED.value, decide_time=when, decision_reason=reason).returning(t.approvals))
        refused = [_approval(row) for row in rows]
        if refused:
            await self._c.execute(t.commands.update().where(
                c.organization == organization, c.session_id == session_id, c.id.in_([r.id for r in refused]),
            ).values(state=CommandState.REFUSED.value))
        return refused

    async def decide(self, organization: str, approval: Approval, command_state: CommandState) -> None:
        """Stores the approval's outcome, and the state it leaves its command in."""
        await self._c.execute(t.approvals.update().where(*_key(organization, approval.session_id, approval.id)).values(
            state=approval.state.value, decider=approval.decider, decide_time=approval.decide_time,
            decision_reason=approval.decision_reason, escalated_to=approval.escalated_to))
        c = t.commands.c
        await self._c.execute(t.commands.update().where(
            c.organization == organization, c.session_id == approval.session_id, c.id == approval.id,
        ).values(state=command_state.value))
