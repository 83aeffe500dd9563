"""Working memories on PostgreSQL: their repository and unit of work, confined to one organization."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from persona_svc.adapters import tables as t
from persona_svc.domain.memory import MemoryChange, MemoryContent, MemoryScope, WorkingMemory, WorkingMemoryRevision
from svckit.db import RequestLog, UnitOfWork
from svckit.records import from_record, to_record

_memories, _revisions = t.working_memories, t.working_memory_revisions


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


class SqlMemoryUnitOfWork(UnitOfWork):
    memories: WorkingMemoryRepository
    requests: RequestLog

    def __init__(self, engine: AsyncEngine, organization: str) -> None:
        super().__init__(engine)
        self.organization = organization

    def bind(self, connection: AsyncConnection) -> None:
        self.memories = WorkingMemoryRepository(connection, self.organization)
        self.requests = RequestLog(connection, t.request_log, self.organization)
