"""Working memories and learned facts on PostgreSQL: their repositories and unit of work, confined to one
organization."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from calls.persona_audit import FlagReason
from persona_svc.adapters import tables as t
from persona_svc.domain.episodes import Embedding, Episode, EpisodeFlag, EpisodeRanking, EpisodeReview
from persona_svc.domain.facts import Fact, FactKind, ObjectionOutcome
from persona_svc.domain.memory import (
    ErasedMemory,
    MemoryChange,
    MemoryContent,
    MemoryScope,
    MemorySettings,
    Persistence,
    WorkingMemory,
    WorkingMemoryRevision,
)
from svckit.db import RequestLog, UnitOfWork
from svckit.records import from_record, to_record

_memories, _revisions, _facts = t.working_memories, t.working_memory_revisions, t.facts


def _of_scope(table: sa.Table, organization: str, scope: MemoryScope) -> list[sa.ColumnElement[bool]]:
    return [table.c.organization == organization, table.c.persona_id == scope.persona_id,
            table.c.candidate_id == scope.candidate_id, table.c.session_id == scope.session_id]


def _memory(scope: MemoryScope, row: Any) -> WorkingMemory:
    return WorkingMemory(scope, from_record(MemoryContent, row.content), row.revision, row.update_time,
                         row.last_access_time)


def _revision(scope: MemoryScope, row: Any) -> WorkingMemoryRevision:
    return WorkingMemoryRevision(
        scope=scope, revision=row.revision, change=MemoryChange(row.change), changed_paths=tuple(row.changed_paths),
        restored_revision=row.restored_revision, snapshot=from_record(MemoryContent, row.snapshot), actor=row.actor,
        create_time=row.create_time)


class WorkingMemoryRepository:
    def __init__(self, connection: AsyncConnection, organization: str) -> None:
        self._c = connection
        self._organization = organization

    async def get(self, scope: MemoryScope) -> WorkingMemory | None:
        row = (await self._c.execute(sa.select(_memories).where(*_of_scope(_memories, self._organization, scope)))
               ).first()
        return _memory(scope, row) if row else None

    async def lock(self, scope: MemoryScope, now: datetime) -> WorkingMemory:
        """The scope's memory locked for this transaction; an empty one at revision 0 is made first if there is
        none, so that two first writes queue on the same row."""
        await self._c.execute(
            insert(_memories).values(organization=self._organization, persona_id=scope.persona_id,
                                     candidate_id=scope.candidate_id, session_id=scope.session_id,
                                     content=to_record(MemoryContent()), revision=0, update_time=now,
                                     last_access_time=now)
            .on_conflict_do_nothing())
        row = (await self._c.execute(sa.select(_memories).where(*_of_scope(_memories, self._organization, scope))
                                     .with_for_update())).one()
        return _memory(scope, row)

    async def save(self, memory: WorkingMemory) -> None:
        await self._c.execute(sa.update(_memories).where(*_of_scope(_memories, self._organization, memory.scope))
                              .values(content=to_record(memory.content), revision=memory.revision,
                                      update_time=memory.update_time, last_access_time=memory.last_access_time))

    async def record_access(self, scope: MemoryScope, when: datetime) -> None:
        await self._c.execute(sa.update(_memories).where(*_of_scope(_memories, self._organization, scope))
                              .values(last_access_time=when))

    async def add_revision(self, revision: WorkingMemoryRevision) -> None:
        scope = revision.scope
        await self._c.execute(_revisions.insert().values(
            organization=self._organization, persona_id=scope.persona_id, candidate_id=scope.candidate_id,
            session_id=scope.session_id, revision=revision.revision, change=revision.change.value,
            changed_paths=list(revision.changed_paths), restored_revision=revision.restored_revision,
            snapshot=to_record(revision.snapshot), actor=revision.actor, create_time=revision.create_time))

    async def get_revision(self, scope: MemoryScope, revision: int) -> WorkingMemoryRevision | None:
        row = (await self._c.execute(sa.select(_revisions).where(
            *_of_scope(_revisions, self._organization, scope), _revisions.c.revision == revision))).first()
        return _revision(scope, row) if row else None

    async def list_revisions(self, scope: MemoryScope, before_revision: int | None,
                             limit: int) -> list[WorkingMemoryRevision]:
        query = sa.select(_revisions).where(*_of_scope(_revisions, self._organization, scope))
        if before_revision is not None:
            query = query.where(_revisions.c.revision < before_revision)
        rows = await self._c.execute(query.order_by(_revisions.c.revision.desc()).limit(limit))
        return [_revision(scope, row) for row in rows]


def _fact(row: Any) -> Fact:
    return Fact(id=row.id, persona_id=row.persona_id, candidate_id=row.candidate_id, session_id=row.session_id,
                kind=FactKind(row.kind), text=row.text, topic=row.topic, message_sequences=tuple(row.message_sequences),
                confidence=row.confidence, outcome=ObjectionOutcome(row.outcome), engine=row.engine,
                valid_from=row.valid_from, valid_until=row.valid_until, superseded_by=row.superseded_by)


class FactRepository:
    def __init__(self, connection: AsyncConnection, organization: str) -> None:
        self._c = connection
        self._organization = organization

    def _of(self, persona_id: str, candidate_id: str) -> list[sa.ColumnElement[bool]]:
        return [_facts.c.organization == self._organization, _facts.c.persona_id == persona_id,
                _facts.c.candidate_id == candidate_id]

    async def of_session(self, persona_id: str, candidate_id: str, session_id: str) -> list[Fact]:
        rows = await self._c.execute(sa.select(_facts).where(*self._of(persona_id, candidate_id),
                                                             _facts.c.session_id == session_id)
                                     .order_by(_facts.c.valid_from, _facts.c.id))
        return [_fact(row) for row in rows]

    async def list(self, persona_id: str, candidate_id: str, show_superseded: bool,
                   after: tuple[datetime, str] | None, limit: int, *, for_update: bool = False) -> list[Fact]:
        query = sa.select(_facts).where(*self._of(persona_id, candidate_id))
        if not show_superseded:
            query = query.where(_facts.c.valid_until.is_(None))
        if after is not None:
            query = query.where(sa.tuple_(_facts.c.valid_from, _facts.c.id) < sa.tuple_(*after))
        query = query.order_by(_facts.c.valid_from.desc(), _facts.c.id.desc()).limit(limit)
        if for_update:
            query = query.with_for_update()
        return [_fact(row) for row in await self._c.execute(query)]

    async def add(self, fact: Fact) -> None:
        await self._c.execute(_facts.insert().values(
            organization=self._organization, persona_id=fact.persona_id, candidate_id=fact.candidate_id, id=fact.id,
            session_id=fact.session_id, kind=fact.kind.value, text=fact.text, topic=fact.topic,
            message_sequences=list(fact.message_sequences), confidence=fact.confidence, outcome=fact.outcome.value,
            engine=fact.engine, valid_from=fact.valid_from, valid_until=fact.valid_until,
            superseded_by=fact.superseded_by))

    async def supersede(self, fact: Fact) -> None:
        await self._c.execute(sa.update(_facts).where(*self._of(fact.persona_id, fact.candidate_id),
                                                      _facts.c.id == fact.id)
                              .values(valid_until=fact.valid_until, superseded_by=fact.superseded_by))


# Any of the context's words (plainto_tsquery joins them with AND).
_ANY_WORD = "replace(plainto_tsquery('english', :context)::text, '&', '|')::tsquery"
_FULL_TEXT = f"ts_rank_cd(e.search_vector, {_ANY_WORD})"
_TRIGRAM = "word_similarity(:context, e.document)"
_SCORES = {
    EpisodeRanking.FULL_TEXT: _FULL_TEXT,
    EpisodeRanking.TRIGRAM: _TRIGRAM,
    # ts_rank_cd's normalisation 32 scales the rank to 0-1 (rank / (rank + 1)), as the trigram score is.
    EpisodeRanking.HYBRID: f"(ts_rank_cd(e.search_vector, {_ANY_WORD}, 32) + {_TRIGRAM}) / 2",
}
# Cosine similarity to the context's embedding, for episodes embedded by the same model (NULL for the others).
_SIMILARITY = ("CASE WHEN e.embedding_model = :model AND vector_dims(e.embedding) = :dimensions"
               " THEN 1 - (e.embedding <=> CAST(:embedding AS vector)) END")
# Reciprocal rank fusion: each ranking adds 1 / (RRF_K + rank) for the episodes it finds at all (a score above 0,
# or any similarity); 60 is the constant of the method's authors, not tuned here.
RRF_K = 60
_FUSED = " + ".join(
    f"coalesce(1.0 / ({RRF_K} + CASE WHEN {column} {found} THEN rank() OVER (ORDER BY {column} DESC NULLS LAST)"
    " END), 0)" for column, found in (("full_text", "> 0"), ("trigram", "> 0"), ("similarity", "IS NOT NULL")))
_EPISODE_COLUMNS = ("e.persona_id, e.candidate_id, e.session_id, e.summary, e.outcome, e.document, e.create_time,"
                    " r.say_meter_scores, r.final_say_meter, r.audit, r.overall_score, r.flags")


def _recall_query(ranking: EpisodeRanking, with_vectors: bool) -> sa.TextClause:
    """The persona's episodes scored against the context, best first; with vectors HYBRID fuses three rankings."""
    if ranking is EpisodeRanking.VECTOR:
        scored, columns = f"{_SIMILARITY} AS score", "*"
    elif ranking is EpisodeRanking.HYBRID and with_vectors:
        scored = f"{_FULL_TEXT} AS full_text, {_TRIGRAM} AS trigram, {_SIMILARITY} AS similarity"
        columns = f"*, {_FUSED} AS score"
    else:
        scored, columns = f"{_SCORES[ranking]} AS score", "*"
    return sa.text(f"""
        SELECT {columns} FROM (
            SELECT {_EPISODE_COLUMNS}, {scored}
            FROM {t.SCHEMA}.episodes AS e LEFT JOIN {t.SCHEMA}.episode_reviews AS r
                ON r.organization = e.organization AND r.persona_id = e.persona_id AND r.session_id = e.session_id
            WHERE e.organization = :organization AND e.persona_id = :persona
              AND (:candidate = '' OR e.candidate_id = :candidate)) AS s
        ORDER BY score DESC NULLS LAST, create_time DESC LIMIT :limit""")


def _vector_literal(values: tuple[float, ...]) -> str:
    return "[" + ",".join(repr(value) for value in values) + "]"


_STORE_EMBEDDING = sa.text(
    f"UPDATE {t.SCHEMA}.episodes SET embedding = CAST(:embedding AS vector), embedding_model = :model"
    " WHERE organization = :organization AND persona_id = :persona AND candidate_id = :candidate"
    " AND session_id = :session AND (embedding IS NULL"
    " OR (embedding_model, vector_dims(embedding)) IS DISTINCT FROM (:model, :dimensions))")


async def store_embedding(connection: AsyncConnection, organization: str, persona_id: str, candidate_id: str,
                          session_id: str, embedding: Embedding) -> bool:
    """Stores the episode's embedding, in place of one of another model or dimension, unless it has one of this
    model and dimension already (or is gone); whether it was stored. The embedding columns exist only where pgvector
    does, so they are named only when there is an embedding to store."""
    stored = await connection.execute(_STORE_EMBEDDING, {
        "embedding": _vector_literal(embedding.values), "model": embedding.model,
        "dimensions": len(embedding.values), "organization": organization, "persona": persona_id,
        "candidate": candidate_id, "session": session_id})
    return stored.rowcount == 1


_reviews = t.episode_reviews
_REVIEW_COLUMNS = (_reviews.c.say_meter_scores, _reviews.c.final_say_meter, _reviews.c.audit,
                   _reviews.c.overall_score, _reviews.c.flags)
# An episode with its review, when there is one.
_EPISODES_REVIEWED = sa.select(t.episodes, *_REVIEW_COLUMNS).select_from(t.episodes.outerjoin(_reviews, sa.and_(
    _reviews.c.organization == t.episodes.c.organization, _reviews.c.persona_id == t.episodes.c.persona_id,
    _reviews.c.session_id == t.episodes.c.session_id)))


def _review(row: Any) -> EpisodeReview | None:
    if row.audit is None:
        return None
    return EpisodeReview(tuple(row.say_meter_scores), row.final_say_meter, row.audit, row.overall_score,
                         tuple(EpisodeFlag(FlagReason(f["reason"]), f["message_sequence"]) for f in row.flags))


def _episode(row: Any) -> Episode:
    return Episode(row.persona_id, row.candidate_id, row.session_id, row.summary, row.outcome, row.document,
                   row.create_time, _review(row))


class EpisodeRepository:
    def __init__(self, connection: AsyncConnection, organization: str) -> None:
        self._c = connection
        self._organization = organization

    async def add(self, episode: Episode, embedding: Embedding | None) -> None:
        """Once per session: a repeat changes nothing."""
        inserted = await self._c.execute(insert(t.episodes).values(
            organization=self._organization, persona_id=episode.persona_id, candidate_id=episode.candidate_id,
            session_id=episode.session_id, summary=episode.summary, outcome=episode.outcome,
            document=episode.document, create_time=episode.create_time).on_conflict_do_nothing())
        if embedding is not None and inserted.rowcount == 1:
            await store_embedding(self._c, self._organization, episode.persona_id, episode.candidate_id,
                                  episode.session_id, embedding)

    async def add_review(self, persona_id: str, session_id: str, review: EpisodeReview, now: datetime) -> bool:
        """False when the session's review by this persona was recorded before (it is kept as it was)."""
        inserted = await self._c.execute(insert(_reviews).values(
            organization=self._organization, persona_id=persona_id, session_id=session_id,
            say_meter_scores=list(review.say_meter_scores), final_say_meter=review.final_say_meter,
            audit=review.audit, overall_score=review.overall_score,
            flags=[{"reason": f.reason.value, "message_sequence": f.message_sequence} for f in review.flags],
            record_time=now).on_conflict_do_nothing())
        return inserted.rowcount == 1

    async def get(self, persona_id: str, candidate_id: str, session_id: str) -> Episode | None:
        row = (await self._c.execute(_EPISODES_REVIEWED.where(
            t.episodes.c.organization == self._organization, t.episodes.c.persona_id == persona_id,
            t.episodes.c.candidate_id == candidate_id, t.episodes.c.session_id == session_id))).first()
        return _episode(row) if row else None

    async def latest(self, persona_id: str, candidate_id: str) -> Episode | None:
        row = (await self._c.execute(_EPISODES_REVIEWED.where(
            t.episodes.c.organization == self._organization, t.episodes.c.persona_id == persona_id,
            t.episodes.c.candidate_id == candidate_id).order_by(t.episodes.c.create_time.desc()).limit(1))).first()
        return _episode(row) if row else None

    async def recall(self, persona_id: str, candidate_id: str, context: str, ranking: EpisodeRanking,
                     limit: int, embedding: Embedding | None) -> list[tuple[Episode, float]]:
        vectors = {"embedding": _vector_literal(embedding.values), "model": embedding.model,
                   "dimensions": len(embedding.values)} if embedding is not None else {}
        rows = await self._c.execute(_recall_query(ranking, embedding is not None), {
            "organization": self._organization, "persona": persona_id, "candidate": candidate_id,
            "context": context, "limit": limit, **vectors})
        # An episode no ranking could score (no embedding of the context's model) comes last, at 0.
        return [(_episode(row), float(row.score or 0.0)) for row in rows]


def _settings(row: Any) -> MemorySettings:
    return MemorySettings(row.id, Persistence(row.persistence), row.retention_days, row.revision, row.update_time)


class SettingsRepository:
    def __init__(self, connection: AsyncConnection, organization: str) -> None:
        self._c = connection
        self._organization = organization
        self._mine = t.memory_settings.c.organization == organization

    async def get(self, persona_id: str) -> MemorySettings | None:
        row = (await self._c.execute(sa.select(t.memory_settings).where(
            self._mine, t.memory_settings.c.id == persona_id))).first()
        return _settings(row) if row else None

    async def lock(self, persona_id: str, now: datetime) -> MemorySettings:
        """The persona's settings locked for the transaction; the defaults at revision 0 are stored first if it has
        none, so that two first writes queue on the same row."""
        default = MemorySettings(persona_id)
        await self._c.execute(insert(t.memory_settings).values(
            organization=self._organization, id=persona_id, persistence=default.persistence.value,
            retention_days=default.retention_days, revision=0, update_time=now).on_conflict_do_nothing())
        row = (await self._c.execute(sa.select(t.memory_settings).where(
            self._mine, t.memory_settings.c.id == persona_id).with_for_update())).one()
        return _settings(row)

    async def save(self, settings: MemorySettings) -> None:
        table = t.memory_settings
        await self._c.execute(sa.update(table).where(self._mine, table.c.id == settings.persona_id).values(
            persistence=settings.persistence.value, retention_days=settings.retention_days,
            revision=settings.revision, update_time=settings.update_time))


class CandidateEraser:
    """Erases what an organization's personas remember of a candidate, in every table that can hold its id."""

    def __init__(self, connection: AsyncConnection, organization: str) -> None:
        self._c = connection
        self._organization = organization

    async def erase(self, candidate_id: str) -> ErasedMemory:
        mine = {"organization": self._organization, "candidate": candidate_id}
        counts = []
        # The reviews of the candidate's calls go with their episodes.
        await self._c.execute(_reviews.delete().where(
            _reviews.c.organization == self._organization,
            sa.tuple_(_reviews.c.persona_id, _reviews.c.session_id).in_(
                sa.select(t.episodes.c.persona_id, t.episodes.c.session_id).where(
                    t.episodes.c.organization == self._organization, t.episodes.c.candidate_id == candidate_id))))
        for table in (_revisions, _memories, _facts, t.episodes):
            deleted = await self._c.execute(table.delete().where(table.c.organization == self._organization,
                                                                 table.c.candidate_id == candidate_id))
            counts.append(deleted.rowcount)
        # Saved replies of memory requests hold the memory they answered with.
        log = t.request_log
        await self._c.execute(log.delete().where(
            log.c.organization == self._organization,
            sa.func.strpos(sa.cast(log.c.response, sa.Text), f'"candidate_id": "{candidate_id}"') > 0))
        # The audit log keeps the calls, not whom they were about.
        await self._c.execute(sa.text(
            f"UPDATE {t.SCHEMA}.audit_log SET resource = regexp_replace(resource, '/candidates/' || :candidate"
            " || '(/|$)', '/candidates/erased\\1') WHERE organization = :organization"
            " AND resource ~ ('/candidates/' || :candidate || '(/|$)')"), mine)
        return ErasedMemory(working_memories=counts[1], revisions=counts[0], facts=counts[2], episodes=counts[3])


class SqlMemoryUnitOfWork(UnitOfWork):
    memories: WorkingMemoryRepository
    facts: FactRepository
    erasure: CandidateEraser
    settings: SettingsRepository
    episodes: EpisodeRepository
    requests: RequestLog

    def __init__(self, engine: AsyncEngine, organization: str) -> None:
        super().__init__(engine)
        self.organization = organization

    def bind(self, connection: AsyncConnection) -> None:
        self.memories = WorkingMemoryRepository(connection, self.organization)
        self.facts = FactRepository(connection, self.organization)
        self.erasure = CandidateEraser(connection, self.organization)
        self.settings = SettingsRepository(connection, self.organization)
        self.episodes = EpisodeRepository(connection, self.organization)
        self.requests = RequestLog(connection, t.request_log, self.organization)
