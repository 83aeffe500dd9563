"""Post-call persona audits: one per ended session, kept until the learning service has it.

The auditor is the engine the request names, else the configured default: `local` (``calls.persona_audit``) or
`openai`. An `openai` audit that fails (unreachable, slow, refused, an answer that does not validate) is replaced by
the local one, counted in ``sparring_analysis_engine_fallbacks_total{reason}`` as a failed analysis is, and stored
with ``engine = 'local'`` and ``engine_fallback``: an ended call is never left without an audit.

The final reading of the whole call (``TRIGGER_SOURCE_SESSION_END``) is stored before the audit, so the audit, the
last event a watcher gets, comes after it.
"""

from __future__ import annotations

import asyncio
import uuid

from analysis_svc.domain.model import AuditedPersona, NewAudit, PersonaPart, StoredAudit
from analysis_svc.service_layer.analyses import Analyses
from analysis_svc.service_layer.engines import NOT_CONFIGURED, Engines
from analysis_svc.service_layer.ports import AuditEngine, Database, PersonaProfiles, TranscriptReader
from analysis_svc.service_layer.session_access import require_organization
from calls.persona_audit import PersonaAudit
from svckit.errors import FailedPrecondition, NotFound, Violations
from svckit.identity import Principal
from svckit.openai_json import deadline_of
from svckit.pagination import PageTokens, page_size
from svckit.usecase import Page


class Audits:
    def __init__(self, database: Database, transcripts: TranscriptReader, personas: PersonaProfiles,
                 page_tokens: PageTokens, engines: Engines[AuditEngine], analyses: Analyses) -> None:
        self._database = database
        self._analyses = analyses
        self._tokens = page_tokens
        self._transcripts = transcripts
        self._personas = personas
        self._engines = engines

    async def audit_session(self, caller: Principal, session_id: str, engine: str = "",
                            budget_seconds: float | None = None) -> tuple[StoredAudit, bool]:
        """Audits an ended session once; a repeat returns the stored audit, whatever engine it names.

        ``budget_seconds`` is the caller's remaining deadline: the model gets what is left of it, less a reserve for
        storing, so a slow model still ends in a stored (local) audit rather than a cancelled call."""
        deadline = deadline_of(budget_seconds)
        engine = engine or self._engines.default
        violations = Violations()
        violations.require(self._engines.configured(engine), "engine", NOT_CONFIGURED)
        violations.raise_if_any()
        organization = require_organization(caller)
        existing = await self.of_session(organization, session_id)
        if existing is not None:
            return existing, True
        call = await self._transcripts.ended_call(organization, session_id)
        parts = call.parts()
        # A call handed over from persona to persona: each persona is audited on its own turns, against its profile.
        profiles = asyncio.gather(*(self._personas.persona(part.persona, call.scenario) for part in parts))
        personas, _ = await asyncio.gather(profiles,
                                           self._analyses.final_reading(organization, session_id, call, deadline))
        audits = [await self._audit(session_id, engine, deadline, call.blueprint, part, persona)
                  for part, persona in zip(parts, personas, strict=True)]
        async with self._database.transaction() as uow:
            added = False
            for new in audits:
                if await uow.audits.add(organization, new):
                    added = True
                    await uow.announce(f"{organization}/{session_id}:audit:{new.id}")
            await uow.commit()
        stored = await self.of_session(organization, session_id)
        assert stored is not None
        return stored, not added

    async def _audit(self, session_id: str, engine: str, deadline: float | None, blueprint: str, part: PersonaPart,
                     persona: AuditedPersona) -> NewAudit:
        async def audit(auditor: AuditEngine) -> PersonaAudit:
            return await auditor.audit(part.turns, persona.profile)

        try:
            produced = await self._engines.run(engine, audit, deadline, f"sessions/{session_id}")
        except ValueError as error:
            raise FailedPrecondition(f"sessions/{session_id}: {error}", reason="NO_MESSAGES") from error
        return NewAudit(id=str(uuid.uuid4()), session_id=session_id, persona=persona.name,
                        persona_display_name=persona.display_name, blueprint=blueprint, audit=produced.result,
                        engine=produced.engine, engine_fallback=produced.fallback, first_sequence=part.first_sequence)

    async def get(self, organization: str, audit_id: str) -> StoredAudit:
        async with self._database.read() as uow:
            audit = await uow.audits.get(organization, audit_id)
        if audit is None:
            raise NotFound(f"audits/{audit_id}", reason="AUDIT_NOT_FOUND")
        return audit

    async def list(self, organization: str, filters: dict[str, str | None], requested_size: int,
                   token: str) -> Page[StoredAudit]:
        """An organization's audits, newest first, by session, persona, archetype or delivery state."""
        size = page_size(requested_size)
        after = self._tokens.decode(token, filters)
        async with self._database.read() as uow:
            fetched = await uow.audits.newest_first(
                organization, session_id=filters.get("session_id"), persona=filters.get("persona"),
                archetype=filters.get("archetype"), delivery_state=filters.get("delivery_state"), after=after,
                limit=size + 1)
        audits, next_token = self._tokens.page(fetched, size, lambda a: [a.create_time.isoformat(), a.id], filters)
        return Page(audits, next_token)

    async def of_session(self, organization: str, session_id: str) -> StoredAudit | None:
        async with self._database.read() as uow:
            return await uow.audits.of_session(organization, session_id)
