"""Post-call persona audits: one per ended session, kept until the learning service has it.

The auditor is the engine the request names, else the configured default: `local` (``calls.persona_audit``) or
`openai`. An `openai` audit that fails (unreachable, slow, refused, an answer that does not validate) is replaced by
the local one, counted in ``sparring_analysis_engine_fallbacks_total{reason}`` as a failed analysis is, and stored
with ``engine = 'local'`` and ``engine_fallback``: an ended call is never left without an audit.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from analysis_svc.adapters.openai_engine import OpenAIEngine
from analysis_svc.adapters.persona_profiles import PersonaProfiles
from analysis_svc.adapters.transcript_reader import TranscriptReader
from analysis_svc.service_layer.analyses import CHANGES_CHANNEL, ENGINE_FALLBACKS
from calls.persona_audit import PersonaAudit, audit_persona
from svckit.db import autocommit
from svckit.errors import FailedPrecondition, NotFound, Violations
from svckit.notify import notify
from svckit.openai_json import EngineFailure, deadline_of, within_deadline
from svckit.outbox import OutboxQueries
from svckit.pagination import PageTokens, after_cursor, page_size
from svckit.records import from_record, to_record
from svckit.usecase import Page

log = logging.getLogger("analysis.audits")

@dataclass(frozen=True)
class StoredAudit:
    id: str
    session_id: str
    persona: str
    persona_display_name: str
    blueprint: str
    audit: PersonaAudit
    delivery_state: str
    delivery_attempts: int
    last_delivery_error: str
    deliver_time: datetime | None
    create_time: datetime
    engine: str = "local"  # the engine that produced it
    engine_fallback: bool = False  # openai was asked for, failed, and local stood in


def stored_audit(row) -> StoredAudit:
    return StoredAudit(row.id, row.session_id, row.persona, row.persona_display_name, row.blueprint,
                       from_record(PersonaAudit, row.audit), row.delivery_state, row.delivery_attempts,
                       row.last_delivery_error, row.deliver_time, row.create_time, row.engine, row.engine_fallback)


_INSERT = sa.text("""
INSERT INTO analysis.persona_audits (id, session_id, persona, persona_display_name, blueprint, audit, engine,
    engine_fallback)
VALUES (:id, :session_id, :persona, :display_name, :blueprint, CAST(:audit AS jsonb), :engine, :engine_fallback)
ON CONFLICT (session_id) DO NOTHING
RETURNING id
""")


class Audits:
    def __init__(self, engine: AsyncEngine, transcripts: TranscriptReader, personas: PersonaProfiles,
                 page_tokens: PageTokens, openai_engine: OpenAIEngine | None = None,
                 default_engine: str = "local") -> None:
        self._engine = engine
        self._reads = autocommit(engine)
        self._tokens = page_tokens
        self._transcripts = transcripts
        self._personas = personas
        self._openai = openai_engine
        self._default_engine = default_engine

    async def audit_session(self, session_id: str, engine: str = "",
                            budget_seconds: float | None = None) -> tuple[StoredAudit, bool]:
        """Audits an ended session once; a repeat returns the stored audit, whatever engine it names.

        ``budget_seconds`` is the caller's remaining deadline: the model gets what is left of it, less a reserve for
        storing, so a slow model still ends in a stored (local) audit rather than a cancelled call."""
        deadline = deadline_of(budget_seconds)
        engine = engine or self._default_engine
        violations = Violations()
        violations.require(engine == "local" or self._openai is not None, "engine",
                           "ENGINE_OPENAI is not configured on this service (ANALYSIS_OPENAI_BASE_URL)")
        violations.raise_if_any()
        existing = await self.of_session(session_id)
        if existing is not None:
            return existing, True
        call = await self._transcripts.ended_call(session_id)
        persona = await self._personas.persona(call.persona)
        try:
            audit = audit_persona(call.turns, persona.profile)
        except ValueError as error:
            raise FailedPrecondition(f"sessions/{session_id}: {error}", reason="NO_MESSAGES") from error
        produced_by, fallback = "local", False
        if engine == "openai" and self._openai is not None:
            try:
                audit = await within_deadline(self._openai.audit(call.turns, persona.profile), deadline)
                produced_by = "openai"
            except EngineFailure as failure:
                # The local audit stands in; the call is never left without one.
                ENGINE_FALLBACKS.labels(failure.reason).inc()
                log.warning("openai audit failed for sessions/%s (%s); using local", session_id, failure)
                fallback = True
        audit_id = str(uuid.uuid4())
        async with self._engine.begin() as connection:
            inserted = (await connection.execute(_INSERT, {
                "id": audit_id, "session_id": session_id, "persona": persona.name,
                "display_name": persona.display_name, "blueprint": call.blueprint,
                "audit": json.dumps(to_record(audit)), "engine": produced_by, "engine_fallback": fallback,
            })).first()
            if inserted is not None:
                await notify(connection, CHANGES_CHANNEL, f"{session_id}:audit:{audit_id}")
        stored = await self.of_session(session_id)
        assert stored is not None
        return stored, inserted is None

    async def get(self, audit_id: str) -> StoredAudit:
        async with self._reads.connect() as connection:
            row = (await connection.execute(sa.text("SELECT * FROM analysis.persona_audits WHERE id = :id"),
                                            {"id": audit_id})).first()
        if row is None:
            raise NotFound(f"audits/{audit_id}", reason="AUDIT_NOT_FOUND")
        return stored_audit(row)

    async def list(self, filters: dict[str, str | None], requested_size: int, token: str) -> Page[StoredAudit]:
        """Audits, newest first, by session, persona, archetype or delivery state."""
        size = page_size(requested_size)
        after = self._tokens.decode(token, filters)
        clauses = ["true"]
        for column in ("session_id", "persona", "delivery_state"):
            if filters.get(column):
                clauses.append(f"{column} = :{column}")
        if filters.get("archetype"):
            clauses.append("audit ->> 'archetype' = :archetype")
        condition, cursor = after_cursor(after, newest_first=True)
        clauses.append(condition)
        query = sa.text(f"SELECT * FROM analysis.persona_audits WHERE {' AND '.join(clauses)} "
                        "ORDER BY create_time DESC, id DESC LIMIT :limit")
        params = {**filters, **cursor, "limit": size + 1}
        async with self._reads.connect() as connection:
            rows = (await connection.execute(query, params)).all()
        rows, next_token = self._tokens.page(rows, size, lambda r: [r.create_time.isoformat(), r.id], filters)
        return Page([stored_audit(row) for row in rows], next_token)

    async def of_session(self, session_id: str) -> StoredAudit | None:
        async with self._reads.connect() as connection:
            row = (await connection.execute(sa.text(
                "SELECT * FROM analysis.persona_audits WHERE session_id = :session"), {"session": session_id})).first()
        return stored_audit(row) if row else None


# The audits not yet stored by the learning service, as an outbox: retried with back-off, never dropped.
AUDIT_DELIVERY = OutboxQueries(
    claim=sa.text("""
WITH due AS (
    SELECT id FROM analysis.persona_audits
    WHERE delivery_state = 'pending' AND next_attempt_time <= now()
    ORDER BY next_attempt_time LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE analysis.persona_audits a
SET next_attempt_time = now() + make_interval(secs => :lease), delivery_attempts = a.delivery_attempts + 1
FROM due WHERE a.id = due.id
RETURNING a.*, 'audit' AS kind, a.delivery_attempts AS attempts, extract(epoch FROM now() - a.create_time) AS age
"""),
    done=sa.text("UPDATE analysis.persona_audits SET delivery_state = 'delivered', deliver_time = now(), "
                 "last_delivery_error = '' WHERE id = :id"),
    retry=sa.text("UPDATE analysis.persona_audits SET next_attempt_time = now() + make_interval(secs => :delay), "
                  "last_delivery_error = :error WHERE id = :id"),
)
