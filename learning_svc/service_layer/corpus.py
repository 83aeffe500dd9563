"""What the personas learn from: the audits corpus, feedback per trace, and the training events both become.

Audits and feedback are kept as the documents they arrived as (contract-shaped dicts); each one
also writes one normalised training event in the same transaction."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from calls.persona_audit import AuditScores, FlaggedQuote, FlagReason, WordRange
from learning_svc.domain.evolution import CorpusAudit
from learning_svc.domain.modules import Signal, TrainingEventSource, audit_signal, feedback_signal
from svckit.db import autocommit
from svckit.errors import NotFound
from svckit.notify import notify
from svckit.pagination import PageTokens, after_cursor, page_size
from svckit.usecase import Page

# Every newly recorded audit is announced with its persona's name, for whoever waits on the corpus.
AUDITS_CHANNEL = "learning_audits"
MAX_EVENT_PAGE = 1000
DEFAULT_EVENT_PAGE = 100


@dataclass(frozen=True)
class Recorded:
    document: dict
    duplicate: bool


@dataclass(frozen=True)
class TrainingEvent:
    id: str
    source: TrainingEventSource
    origin: str
    persona: str
    module: str
    signal: float
    processed: bool
    learning_run: str
    create_time: datetime
    process_time: datetime | None


def scores_of(document: dict) -> AuditScores:
    scores = document.get("scores", {})
    return AuditScores(*(int(scores.get(name, 0)) for name in
                         ("brevity", "authenticity", "consistency", "enthusiasm_leak", "pacing")))


def corpus_audit(document: dict) -> CorpusAudit:
    target = document.get("target_words_per_turn", {})
    return CorpusAudit(
        name=document["name"], persona=document["persona"],
        persona_display_name=document.get("persona_display_name", ""), archetype=document.get("archetype", ""),
        difficulty=int(document.get("difficulty", 0)), scores=scores_of(document),
        overall_score=float(document.get("overall_score", 0.0)),
        avg_words_per_turn=float(document.get("avg_words_per_turn", 0.0)),
        target_words_per_turn=WordRange(int(target.get("min_words", 0)), int(target.get("max_words", 0))),
        persona_turn_count=int(document.get("persona_turn_count", 0)),
        flagged_quotes=tuple(FlaggedQuote(int(q.get("sequence", 0)), q.get("text", ""),
                                          FlagReason[q.get("reason", "FLAG_REASON_OTHER").removeprefix("FLAG_REASON_")],
                                          q.get("explanation", ""))
                             for q in document.get("flagged_quotes", [])),
        audit_time=datetime.fromisoformat(document["audit_time"].replace("Z", "+00:00")),
    )


def _event(row) -> TrainingEvent:
    return TrainingEvent(row.id, TrainingEventSource(row.source), row.origin, row.persona, row.module, row.signal,
                         row.processed, row.learning_run, row.create_time, row.process_time)


async def _insert_event(connection: AsyncConnection, event_id: str, source: TrainingEventSource, origin: str,
                        signal: Signal) -> None:
    await connection.execute(sa.text(
        "INSERT INTO learning.training_events (id, source, origin, persona, module, signal) "
        "VALUES (:id, :source, :origin, :persona, :module, :signal)"),
        {"id": event_id, "source": source.value, "origin": origin, "persona": signal.persona,
         "module": signal.module, "signal": signal.signal})


class Corpus:
    def __init__(self, engine: AsyncEngine, page_tokens: PageTokens) -> None:
        self._engine = engine
        self._reads = autocommit(engine)
        self._tokens = page_tokens

    # --- audits -------------------------------------------------------------------------------

    async def record_audit(self, audit_id: str, document: dict) -> Recorded:
        """Stores the audit and its training event once; a repeat returns the stored one (the source audit is
        the idempotency key, so no request id is needed)."""
        document = {**document, "name": f"corpusAudits/{audit_id}"}

        async def run() -> bool:
            inserted = (await connection.execute(sa.text(
                "INSERT INTO learning.audits (id, session, persona, archetype, difficulty, document, audit_time) "
                "VALUES (:id, :session, :persona, :archetype, :difficulty, CAST(:document AS jsonb), :audit_time) "
                "ON CONFLICT (id) DO NOTHING RETURNING record_time"),
                {"id": audit_id, "session": document["session"], "persona": document["persona"],
                 "archetype": document.get("archetype", ""), "difficulty": int(document.get("difficulty", 0)),
                 "document": json.dumps(document),
                 "audit_time": datetime.fromisoformat(document["audit_time"].replace("Z", "+00:00"))})).first()
            if inserted is None:
                return False
            await notify(connection, AUDITS_CHANNEL, document["persona"])
            signal = audit_signal(document["persona"], scores_of(document), float(document.get("overall_score", 0)))
            await _insert_event(connection, str(uuid.uuid4()), TrainingEventSource.PERSONA_AUDIT, document["name"],
                                signal)
            return True

        async with self._engine.connect() as connection, connection.begin():
            fresh = await run()
            stored = await self._audit(connection, audit_id)
        return Recorded(stored, duplicate=not fresh)

    async def get_audit(self, audit_id: str) -> dict:
        async with self._reads.connect() as connection:
            return await self._audit(connection, audit_id)

    @staticmethod
    async def _audit(connection: AsyncConnection, audit_id: str) -> dict:
        row = (await connection.execute(sa.text(
            "SELECT document, record_time FROM learning.audits WHERE id = :id"), {"id": audit_id})).first()
        if row is None:
            raise NotFound(f"corpusAudits/{audit_id}", reason="AUDIT_NOT_FOUND")
        return {**row.document, "record_time": row.record_time.isoformat()}

    async def list_audits(self, filters: dict, requested_size: int, token: str) -> Page[dict]:
        """Newest audit_time first, by archetype, difficulty, persona and a time range."""
        size = page_size(requested_size)
        after = self._tokens.decode(token, {key: str(value) for key, value in filters.items()})
        clauses = ["true"]
        for column in ("archetype", "difficulty", "persona"):
            if filters.get(column) is not None:
                clauses.append(f"{column} = :{column}")
        if filters.get("time_from") is not None:
            clauses.append("audit_time >= :time_from")
        if filters.get("time_to") is not None:
            clauses.append("audit_time < :time_to")
        condition, cursor = after_cursor(after, key="(audit_time, id)", newest_first=True)
        clauses.append(condition)
        query = sa.text(f"SELECT id, audit_time, record_time, document FROM learning.audits "
                        f"WHERE {' AND '.join(clauses)} ORDER BY audit_time DESC, id DESC LIMIT :limit")
        async with self._reads.connect() as connection:
            rows = (await connection.execute(query, {**filters, **cursor, "limit": size + 1})).all()
        rows, next_token = self._tokens.page(rows, size, lambda r: [r.audit_time.isoformat(), r.id],
                                             {key: str(value) for key, value in filters.items()})
        return Page([{**r.document, "record_time": r.record_time.isoformat()} for r in rows], next_token)

    async def recent_audits(self, archetype: str | None, limit: int) -> list[CorpusAudit]:
        """The most recent audits in scope (one archetype, or all when None), for an evolution run."""
        condition = "archetype = :archetype" if archetype is not None else "true"
        async with self._reads.connect() as connection:
            rows = (await connection.execute(sa.text(
                f"SELECT document FROM learning.audits WHERE {condition} ORDER BY audit_time DESC, id DESC "
                "LIMIT :limit"), {"archetype": archetype, "limit": limit})).all()
        return [corpus_audit(row.document) for row in rows]

    # --- feedback -----------------------------------------------------------------------------

    async def record_feedback(self, document: dict) -> Recorded:
        """The first feedback of a trace wins; a repeat returns it with duplicate set."""
        trace_id = document["trace_id"]
        name = f"feedback/{trace_id}"

        async def run() -> bool:
            event_id = str(uuid.uuid4())
            stored = {**document, "name": name, "training_event": f"trainingEvents/{event_id}"}
            inserted = (await connection.execute(sa.text(
                "INSERT INTO learning.feedback (trace_id, document) VALUES (:id, CAST(:document AS jsonb)) "
                "ON CONFLICT (trace_id) DO NOTHING RETURNING trace_id"),
                {"id": trace_id, "document": json.dumps(stored)})).first()
            if inserted is None:
                return False
            signal = feedback_signal(document["persona"], document.get("intent_label", ""),
                                     float(document.get("score", 0.0)))
            await _insert_event(connection, event_id, TrainingEventSource.FEEDBACK, name, signal)
            return True

        async with self._engine.connect() as connection, connection.begin():
            fresh = await run()
            stored = await self._feedback(connection, trace_id)
        return Recorded(stored, duplicate=not fresh)

    async def get_feedback(self, trace_id: str) -> dict:
        async with self._reads.connect() as connection:
            return await self._feedback(connection, trace_id)

    @staticmethod
    async def _feedback(connection: AsyncConnection, trace_id: str) -> dict:
        row = (await connection.execute(sa.text(
            "SELECT document, create_time FROM learning.feedback WHERE trace_id = :id"), {"id": trace_id})).first()
        if row is None:
            raise NotFound(f"feedback/{trace_id}", reason="FEEDBACK_NOT_FOUND")
        return {**row.document, "create_time": row.create_time.isoformat()}

    # --- training events ----------------------------------------------------------------------

    async def list_events(self, filters: dict, requested_size: int, token: str) -> Page[TrainingEvent]:
        """Oldest first."""
        size = page_size(requested_size, default=DEFAULT_EVENT_PAGE, maximum=MAX_EVENT_PAGE)
        after = self._tokens.decode(token, filters)
        clauses = ["position > :after"]
        for column in ("persona", "source", "processed", "learning_run"):
            if filters.get(column) is not None:
                clauses.append(f"{column} = :{column}")
        async with self._reads.connect() as connection:
            rows = (await connection.execute(sa.text(
                f"SELECT * FROM learning.training_events WHERE {' AND '.join(clauses)} ORDER BY position LIMIT :limit"),
                {**filters, "after": after or 0, "limit": size + 1})).all()
        rows, next_token = self._tokens.page(rows, size, lambda r: r.position, filters)
        return Page([_event(row) for row in rows], next_token)
