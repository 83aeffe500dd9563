"""The guardrail check log, listed per session or per persona for admins, the session's interviewer and the
persona's owners."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from guardrails.check_log import CheckDecision, CheckKind, GuardrailCheck
from svckit.errors import NotFound, PermissionDenied
from svckit.identity import Principal
from svckit.pagination import PageTokens, page_size
from svckit.usecase import Page
from transcript_svc.service_layer.ports import CheckFilters, TranscriptUnitOfWork
from transcript_svc.service_layer.transcripts import session_not_found


class PersonaOwnership(Protocol):
    async def owners_if_found(self, name: str, organization: str) -> frozenset[str] | None:
        """Who owns the persona; None when ``organization`` has none of that name. Raises Unavailable when the
        persona service does not answer."""
        ...


@dataclass(frozen=True, slots=True)
class CheckParent:
    collection: str  # "sessions" or "personas"
    id: str

    @property
    def name(self) -> str:
        return f"{self.collection}/{self.id}"


class GuardrailCheckLog:
    def __init__(self, read: Callable[[], TranscriptUnitOfWork], personas: PersonaOwnership,
                 page_tokens: PageTokens) -> None:
        self._read = read
        self._personas = personas
        self._tokens = page_tokens

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
