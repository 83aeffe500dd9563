"""Post-call persona audits: one per ended session, kept until the learning service has it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from analysis_svc.adapters.persona_profiles import PersonaProfiles
from analysis_svc.adapters.transcript_reader import TranscriptReader
from analysis_svc.service_layer.analyses import CHANGES_CHANNEL
from svckit.errors import FailedPrecondition, NotFound
from svckit.notify import notify
from svckit.outbox import OutboxQueries
from svckit.pagination import PageTokens, after_cursor, page_size
from svckit.persona_audit import PersonaAudit, audit_persona
from svckit.records import from_record, to_record
from svckit.usecase import Page


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


def stored_audit(row) -> StoredAudit:
    return StoredAudit(row.id, row.session_id, row.persona, row.persona_display_name, row.blueprint,
                       from_record(PersonaAudit, row.audit), row.delivery_state, row.delivery_attempts,
                       row.last_delivery_error, row.deliver_time, row.create_time)


_INSERT = sa.text("""
INSERT INTO analysis.persona_audits (id, session_id, persona, persona_display_name, blueprint, audit)
VALUES (:id, :session_id, :persona, :display_name, :blueprint, CAST(:audit AS jsonb))
ON CONFLICT (session_id) DO NOTHING
RETURNING id
""")


class Audits:
    def __init__(self, engine: AsyncEngine, transcripts: TranscriptReader, personas: PersonaProfiles,
                 page_tokens: PageTokens) -> None:
        self._engine = engine
        self._tokens = page_tokens
        self._transcripts = transcripts
        self._personas = personas

    async def audit_session(self, session_id: str) -> tuple[StoredAudit, bool]:
        existing = await self.of_session(session_id)
        if existing is not None:
            return existing, True
        call = await self._transcripts.ended_call(session_id)
        persona = await self._personas.persona(call.persona)
        try:
            audit = audit_persona(call.turns, persona.profile)
        except ValueError as error:
            raise FailedPrecondition(f"sessions/{session_id}: {error}", reason="NO_MESSAGES") from error
        audit_id = str(uuid.uuid4())
        async with self._engine.begin() as connection:
            inserted = (await connection.execute(_INSERT, {
                "id": audit_id, "session_id": session_id, "persona": persona.name,
                "display_name": persona.display_name, "blueprint": call.blueprint,
                "audit": json.dumps(to_record(audit)),
            })).first()
            if inserted is not None:
                await notify(connection, CHANGES_CHANNEL, f"{session_id}:audit:{audit_id}")
        stored = await self.of_session(session_id)
        assert stored is not None
        return stored, inserted is None

    async def get(self, audit_id: str) -> StoredAudit:
        async with self._engine.connect() as connection:
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
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query, params)).all()
        rows, next_token = self._tokens.page(rows, size, lambda r: [r.create_time.isoformat(), r.id], filters)
        return Page([stored_audit(row) for row in rows], next_token)

    async def of_session(self, session_id: str) -> StoredAudit | None:
        async with self._engine.connect() as connection:
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
