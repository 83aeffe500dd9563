"""The guardrail check log, listed per session or per persona for admins, the session's interviewer and the
persona's owners; and the candidate's messages the analysis service's readings found input filters matching, logged
here with the rest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from guardrails.check_log import CheckDecision, CheckKind, CheckScope, Finding, GuardrailCheck
from guardrails.risk import alert_score
from svckit.errors import NotFound, PermissionDenied, Violations
from svckit.identity import Principal
from svckit.pagination import PageTokens, page_size
from svckit.usecase import Mutation, Page, run_idempotent
from transcript_svc.service_layer.ports import CheckFilters, TranscriptUnitOfWork
from transcript_svc.service_layer.risk import log_checks
from transcript_svc.service_layer.safety import SafetyPolicies
from transcript_svc.service_layer.transcripts import session_not_found

MAX_FINDINGS = 100
MAX_QUOTE_CHARACTERS = 200
_INPUT_DECISIONS = (CheckDecision.FLAGGED, CheckDecision.BLOCKED)


class PersonaOwnership(Protocol):
    async def owners_if_found(self, name: str, organization: str) -> frozenset[str] | None:
        """Who owns the persona; None when ``organization`` has none of that name. Raises Unavailable when the
        persona service does not answer."""
        ...


@dataclass(frozen=True, slots=True)
class InputFinding:
    """An input filter's match in a candidate's message, as a reading found it."""

    rule: str
    decision: CheckDecision
    message_sequence: int
    quote: str


@dataclass(frozen=True, slots=True)
class CheckParent:
    collection: str  # "sessions" or "personas"
    id: str

    @property
    def name(self) -> str:
        return f"{self.collection}/{self.id}"


class GuardrailCheckLog:
    def __init__(self, uow: Callable[[], TranscriptUnitOfWork], read: Callable[[], TranscriptUnitOfWork],
                 personas: PersonaOwnership, policies: SafetyPolicies, page_tokens: PageTokens) -> None:
        self._uow = uow
        self._read = read
        self._personas = personas
        self._policies = policies
        self._tokens = page_tokens

    async def record_input_findings(self, session_id: str, reading: str, findings: list[InputFinding],
                                    mutation: Mutation) -> None:
        """Logs a reading's findings in the session's candidate messages (once per reading) with their risk."""
        violations = Violations()
        violations.require(reading.startswith(f"sessions/{session_id}/analyses/") and len(reading) <= 200,
                           "reading", "must be an analysis of the session: 'sessions/{session_id}/analyses/{id}'")
        violations.require(len(findings) <= MAX_FINDINGS, "findings", f"at most {MAX_FINDINGS}")
        for n, finding in enumerate(findings):
            field = f"findings[{n}]"
            violations.require(bool(finding.rule), f"{field}.rule", "is required")
            violations.require(finding.decision in _INPUT_DECISIONS, f"{field}.decision",
                               "must be GUARDRAIL_DECISION_FLAGGED or GUARDRAIL_DECISION_BLOCKED")
            violations.require(finding.message_sequence > 0, f"{field}.message_sequence", "must be 1 or more")
            violations.require(len(finding.quote) <= MAX_QUOTE_CHARACTERS, f"{field}.quote",
                               f"must be at most {MAX_QUOTE_CHARACTERS} characters")
        violations.raise_if_any()
        organization = mutation.caller.organization
        async with self._read() as uow:
            session = await uow.sessions.get(organization, session_id)
        if session is None:
            raise session_not_found(session_id)
        # Read before the transaction, so no connection waits on the persona service.
        policy = await self._policies.in_force(organization, session.persona)
        scope = CheckScope(organization, session_id, session.persona, policy.name, policy.revision,
                           mutation.caller.principal.subject, alert_score(policy.escalation_threshold))
        now = datetime.now(UTC)
        checks = [scope.record(Finding(CheckKind.INPUT_FILTER, finding.decision, finding.rule), finding.quote,
                               f"sessions/{session_id}/messages/{finding.message_sequence}", now)
                  for finding in findings]

        async def run() -> None:
            if checks:
                await log_checks(uow, scope.alert_score, *checks)

        async with self._uow() as uow:
            await run_idempotent(uow.requests(organization), mutation, "RecordInputFilterFindings", run, None)
            await uow.commit()

    async def list(self, caller: Principal, parent: CheckParent, kind: CheckKind | None,
                   decision: CheckDecision | None, requested_size: int, token: str) -> Page[GuardrailCheck]:
        size = page_size(requested_size)
        organization = caller.organization
        listed = {"parent": parent.name, "kind": kind, "decision": decision}
        cursor = self._tokens.decode(token, listed)
        after = (datetime.fromisoformat(cursor[0]), int(cursor[1])) if cursor else None
        async with self._read() as uow:
            if parent.collection == "sessions":
                session = await uow.sessions.get(organization, parent.id)
                if session is None:
                    raise session_not_found(parent.id)
                if not (caller.is_admin or caller.subject == session.interviewer):
                    await self._check_owns(caller, session.persona, parent.name)
                filters = CheckFilters(organization, session_id=parent.id, kind=kind, decision=decision)
            else:
                await self._check_owns(caller, parent.name, parent.name)
                filters = CheckFilters(organization, persona=parent.name, kind=kind, decision=decision)
            items = await uow.guardrail_checks.list(filters, after, size + 1)
        return Page(*self._tokens.page(items, size, lambda c: [c.create_time.isoformat(), c.id], listed))

    async def _check_owns(self, caller: Principal, persona: str, parent: str) -> None:
        """Admins and the persona's owners may read its checks; a persona of another organization is NOT_FOUND."""
        owners = await self._personas.owners_if_found(persona, caller.organization)
        if owners is None:
            raise NotFound(persona, reason="PERSONA_NOT_FOUND")
        if not (caller.is_admin or caller.subject in owners):
            raise PermissionDenied(f"{caller.subject} may not read the guardrail checks of {parent}: it takes an "
                                   f"admin, the session's interviewer or an owner of {persona}",
                                   reason="NOT_A_PERSONA_OWNER", metadata={"resource": parent, "field": "parent"})
