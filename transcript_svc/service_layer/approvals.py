"""Approvals of held commands: asked for by SendCommand when the persona's policy says so, decided by someone allowed
to, and, when nobody decides in time, handed by a background job along the policy's escalation path, then expired."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import Histogram

from guardrails.risk import alert_score
from svckit.errors import FailedPrecondition, NotFound, PermissionDenied, Violations
from svckit.identity import Principal
from svckit.pagination import MAX_PAGE_SIZE, PageTokens, page_size
from svckit.usecase import Page
from transcript_svc.domain.approvals import (
    MAX_DECISION_REASON_CHARS,
    Approval,
    ApprovalState,
    approval_check,
    approval_name,
    next_escalation,
)
from transcript_svc.domain.model import CommandState, SessionState
from transcript_svc.service_layer.handoffs import release_approved
from transcript_svc.service_layer.ports import PersonaOwners, TranscriptUnitOfWork
from transcript_svc.service_layer.risk import log_checks
from transcript_svc.service_layer.safety import APPROVALS, SafetyPolicies
from transcript_svc.service_layer.transcripts import (
    check_may_read,
    fail_held_handoff,
    session_ended,
    session_not_found,
)

log = logging.getLogger("transcript.approvals")

EXPIRY_SWEEP_SECONDS = Histogram("sparring_transcript_approval_expiry_seconds",
                                 "Time one sweep of the approval expiry job took.",
                                 buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5))


@dataclass(frozen=True, slots=True)
class ApprovalParent:
    collection: str  # "sessions" or "queues"
    id: str


def _now() -> datetime:
    return datetime.now(UTC)


class ApprovalDesk:
    def __init__(self, uow: Callable[[], TranscriptUnitOfWork], policies: SafetyPolicies,
                 personas: PersonaOwners, ttl: timedelta, page_tokens: PageTokens) -> None:
        """``ttl``: how long each step of an escalation has to decide an approval."""
        self.uow = uow
        self._tokens = page_tokens
        self._ttl = ttl
        self._policies = policies
        self._personas = personas

    async def get(self, caller: Principal, session_id: str, approval_id: str) -> Approval:
        async with self.uow() as uow:
            return await self._readable(uow, caller, session_id, approval_id)

    async def list(self, caller: Principal, parent: ApprovalParent, state: str | None, requested_size: int,
                   token: str) -> Page[Approval]:
        """A session's approvals for its participants; a queue's for admins, and for others those whose persona's
        policy names one of their roles in approver_roles."""
        size = page_size(requested_size)
        filters = {"parent": f"{parent.collection}/{parent.id}", "state": state}
        cursor = self._tokens.decode(token, filters)
        after = (datetime.fromisoformat(cursor[0]), cursor[1], cursor[2]) if cursor else None
        session_id, queue = (parent.id, None) if parent.collection == "sessions" else (None, filters["parent"])
        async with self.uow() as uow:
            if session_id is not None:
                await self._readable_session(uow, caller, session_id)
            rows = await uow.approvals.list(caller.organization, session_id, queue, state, after, size + 1)
        rows, next_token = self._tokens.page(
            rows, size, lambda row: [row[1].create_time.isoformat(), row[1].session_id, row[1].id], filters)
        if queue is None or caller.is_admin:
            return Page([approval for _, approval in rows], next_token)
        return Page([approval for persona, approval in rows if await self._names_a_role_of(caller, persona)],
                    next_token)

    async def _names_a_role_of(self, caller: Principal, persona: str) -> bool:
        return caller.has_any((await self._policies.in_force(caller.organization, persona)).approver_roles)

    async def watch_pending(self, caller: Principal, session_id: str) -> builtins.list[Approval]:
        """Every pending approval of the session, for a watcher (readable by it, or this raises)."""
        pending: builtins.list[Approval] = []
        token = ""
        while True:
            page = await self.list(caller, ApprovalParent("sessions", session_id), ApprovalState.PENDING.value,
                                   MAX_PAGE_SIZE, token)
            pending += page.items
            token = page.next_page_token
            if not token:
                return pending

    async def approve(self, caller: Principal, session_id: str, approval_id: str) -> Approval:
        return await self._decide(caller, session_id, approval_id, ApprovalState.APPROVED, "")

    async def reject(self, caller: Principal, session_id: str, approval_id: str, reason: str) -> Approval:
        violations = Violations()
        if len(reason) > MAX_DECISION_REASON_CHARS:
            violations.add("reason", f"must be at most {MAX_DECISION_REASON_CHARS} characters (got {len(reason)})")
        violations.raise_if_any()
        return await self._decide(caller, session_id, approval_id, ApprovalState.REJECTED, reason)

    async def _decide(self, caller: Principal, session_id: str, approval_id: str, outcome: ApprovalState,
                      reason: str) -> Approval:
        organization = caller.organization
        async with self.uow() as uow:
            session = await uow.sessions.get(organization, session_id)
            approval = await uow.approvals.get(organization, session_id, approval_id)
        if session is None or approval is None:
            raise NotFound(approval_name(session_id, approval_id), reason="APPROVAL_NOT_FOUND")
        persona = session.persona
        # Checked before the approval is locked: the persona service is not waited on with a row locked.
        await self._check_may_decide(caller, persona, approval)
        alerts_from = alert_score((await self._policies.in_force(organization, persona)).escalation_threshold)
        now = _now()
        async with self.uow() as uow:
            # The session first, as commands, handoffs and its end lock it: an approved handoff changes it.
            session = await uow.sessions.get(organization, session_id, for_update=True)
            approval = await uow.approvals.get(organization, session_id, approval_id, for_update=True)
            if session is None or approval is None:
                raise NotFound(approval_name(session_id, approval_id), reason="APPROVAL_NOT_FOUND")
            _check_pending(approval, now)
            if outcome is ApprovalState.APPROVED and session.state is SessionState.ENDED:
                raise session_ended(session.resource_name)
            decided = _decided(approval, outcome, caller.subject, now, reason)
            await log_checks(uow, alerts_from, approval_check(organization, persona, decided, caller.subject, now))
            released = outcome is ApprovalState.APPROVED and await release_approved(uow, organization, session,
                                                                                    approval, now)
            await uow.approvals.decide(organization, decided,
                                       CommandState.PENDING if released else CommandState.REFUSED)
            if released:
                await uow.announce.command_sent(organization, session_id, approval_id)
            elif outcome is not ApprovalState.APPROVED:
                await fail_held_handoff(uow, organization, decided)
            await uow.announce.approval_changed(organization, session_id, approval_id)
            await uow.commit()
        APPROVALS.labels(outcome.value).inc()
        return decided

    async def _check_may_decide(self, caller: Principal, persona: str, approval: Approval) -> None:
        """Admins decide any approval; others, not their own request, if the persona's policy names one of their
        roles or they own the persona (or the persona the approval escalated to)."""
        if caller.is_admin:
            return
        denied = {"resource": approval.resource_name, "field": "name"}
        if caller.subject == approval.requester:
            raise PermissionDenied(f"{caller.subject} asked for {approval.resource_name} and may not decide it",
                                   reason="OWN_REQUEST", metadata=denied)
        policy = await self._policies.in_force(caller.organization, persona)
        if caller.has_any(policy.approver_roles):
            return
        owned = [persona, *([approval.escalated_to] if approval.escalated_to.startswith("personas/") else [])]
        for name in owned:
            if caller.subject in await self._personas.owners(name, caller.organization):
                return
        raise PermissionDenied(
            f"{caller.subject} may not decide {approval.resource_name}: it takes an admin, an owner of "
            f"{' or '.join(owned)}, or a role the persona's safety policy names in approver_roles",
            reason="NOT_AN_APPROVER", metadata=denied)

    async def expire_due(self, now: datetime, limit: int) -> int:
        """Up to ``limit`` pending approvals past their expiry, each handed to the next step of its persona's
        escalation path with a new expiry, or, past the path's last step, expired and its command refused; how
        many."""
        async with self.uow() as uow:
            due = await uow.approvals.due(now, limit)
            for organization, persona, approval in due:
                policy = await self._policies.in_force(organization, persona)
                alerts_from = alert_score(policy.escalation_threshold)
                step = next_escalation(policy.escalation_path, approval.escalated_to)
                if step:
                    escalated = dataclasses.replace(approval, escalated_to=step, expire_time=now + self._ttl)
                    await uow.approvals.escalate(organization, escalated)
                    await log_checks(uow, alerts_from, approval_check(organization, persona, escalated, "", now))
                else:
                    expired = _decided(approval, ApprovalState.EXPIRED, "", now, "")
                    await uow.approvals.decide(organization, expired, CommandState.REFUSED)
                    await fail_held_handoff(uow, organization, expired)
                    await log_checks(uow, alerts_from, approval_check(organization, persona, expired, "", now))
                APPROVALS.labels("escalated" if step else ApprovalState.EXPIRED.value).inc()
                await uow.announce.approval_changed(organization, approval.session_id, approval.id)
            await uow.commit()
        return len(due)

    @staticmethod
    async def _readable_session(uow: TranscriptUnitOfWork, caller: Principal, session_id: str) -> None:
        session = await uow.sessions.get(caller.organization, session_id)
        if session is None:
            raise session_not_found(session_id)
        check_may_read(session, caller)

    async def _readable(self, uow: TranscriptUnitOfWork, caller: Principal, session_id: str,
                        approval_id: str) -> Approval:
        await self._readable_session(uow, caller, session_id)
        approval = await uow.approvals.get(caller.organization, session_id, approval_id)
        if approval is None:
            raise NotFound(approval_name(session_id, approval_id), reason="APPROVAL_NOT_FOUND")
        return approval


def _check_pending(approval: Approval, now: datetime) -> None:
    """Only a pending approval before its expiry may be decided; else nothing changes."""
    metadata = {"resource": approval.resource_name, "field": "name", "state": approval.state.name}
    if approval.state is not ApprovalState.PENDING:
        raise FailedPrecondition(f"{approval.resource_name} is already {approval.state.value}",
                                 reason="APPROVAL_ALREADY_DECIDED", metadata=metadata)
    if approval.expire_time <= now:
        raise FailedPrecondition(f"{approval.resource_name} expired at {approval.expire_time.isoformat()}",
                                 reason="APPROVAL_EXPIRED", metadata={**metadata, "state": "EXPIRED"})


def _decided(approval: Approval, state: ApprovalState, decider: str, when: datetime, reason: str) -> Approval:
    return dataclasses.replace(approval, state=state, decider=decider, decide_time=when, decision_reason=reason)


class ApprovalExpiry:
    """Expires approvals in the background: a sweep every ``interval`` seconds, each bounded in time and in how many
    it expires (the rest wait for the next sweep)."""

    def __init__(self, desk: ApprovalDesk, interval: float, batch: int, timeout: float) -> None:
        self._desk = desk
        self._interval = interval
        self._batch = batch
        self._timeout = timeout
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                with EXPIRY_SWEEP_SECONDS.time():
                    async with asyncio.timeout(self._timeout):
                        await self._desk.expire_due(_now(), self._batch)
            except Exception:  # a failed sweep is retried by the next one
                log.exception("expiring approvals failed; the next sweep tries again")
            await asyncio.sleep(self._interval)
