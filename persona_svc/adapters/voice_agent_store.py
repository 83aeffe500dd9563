"""Voice agents in the ``persona`` schema: their tables; the repository and unit of work of the use cases, confined
to one organization; clean-up's store, across organizations; and clean-up's lock across replicas."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from persona_svc.adapters.tables import metadata
from persona_svc.domain.voice_agents import AgentSpec, AgentUse, Deletion, VoiceAgent
from svckit import records
from svckit.db import UnitOfWork

voice_agents = sa.Table(
    "voice_agents",
    metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("cache_key", sa.Text, nullable=False),
    sa.Column("provider_agent_id", sa.Text, nullable=False),
    sa.Column("persona_id", sa.Text, nullable=False),
    sa.Column("spec", JSONB, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("organization", "provider", "cache_key", name="voice_agents_key"),
)

voice_agent_uses = sa.Table(
    "voice_agent_uses",
    metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("agent_id", sa.Text, primary_key=True),
    sa.Column("session", sa.Text, primary_key=True),
    sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("end_time", sa.DateTime(timezone=True)),
    sa.Column("check_time", sa.DateTime(timezone=True)),  # when clean-up last asked whether the session ended
)

voice_agent_deletions = sa.Table(
    "voice_agent_deletions",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("organization", sa.Text, nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("provider_agent_id", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finish_time", sa.DateTime(timezone=True)),  # when it was done or given up
)
PENDING, DONE, FAILED = "pending", "done", "failed"
CLEANUP_LOCK = "persona.voice_agent_cleanup"  # the advisory lock only one replica's clean-up holds at a time


def _key_lock(organization: str, provider: str, cache_key: str) -> sa.Select[Any]:
    """A transaction-level advisory lock on one cache key: released at commit or rollback, across every replica."""
    key = f"voice_agent:{organization}:{provider}:{cache_key}"
    return sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0)))


async def _queue_deletion(c: AsyncConnection, organization: str, provider: str, provider_agent_id: str) -> None:
    """Queues the agent's deletion at its provider, which clean-up's next sweep tries."""
    await c.execute(voice_agent_deletions.insert().values(
        organization=organization, provider=provider, provider_agent_id=provider_agent_id, state=PENDING, attempts=0,
        next_attempt_time=sa.func.now(), last_error="", create_time=sa.func.now()))


def _agent(row: Any) -> VoiceAgent:
    return VoiceAgent(id=row.id, organization=row.organization, spec=records.from_record(AgentSpec, row.spec),
                      cache_key=row.cache_key, provider_agent_id=row.provider_agent_id, create_time=row.create_time)


class VoiceAgentRepository:
    def __init__(self, connection: AsyncConnection, organization: str) -> None:
        self._c = connection
        self._organization = organization

    async def _one(self, *where: sa.ColumnElement[bool]) -> VoiceAgent | None:
        row = (await self._c.execute(
            sa.select(voice_agents).where(voice_agents.c.organization == self._organization, *where))).first()
        return _agent(row) if row else None

    async def get(self, agent_id: str) -> VoiceAgent | None:
        return await self._one(voice_agents.c.id == agent_id)

    async def by_key(self, provider: str, cache_key: str) -> VoiceAgent | None:
        return await self._one(voice_agents.c.provider == provider, voice_agents.c.cache_key == cache_key)

    async def lock_key(self, provider: str, cache_key: str) -> None:
        await self._c.execute(_key_lock(self._organization, provider, cache_key))

    async def add(self, agent: VoiceAgent) -> None:
        await self._c.execute(voice_agents.insert().values(
            organization=agent.organization, id=agent.id, provider=agent.spec.provider, cache_key=agent.cache_key,
            provider_agent_id=agent.provider_agent_id, persona_id=agent.spec.persona_id,
            spec=records.to_record(agent.spec), create_time=agent.create_time))


    async def queue_deletion(self, provider: str, provider_agent_id: str) -> None:
        await _queue_deletion(self._c, self._organization, provider, provider_agent_id)

    async def remove(self, agent_id: str) -> None:
        await self._c.execute(voice_agents.delete().where(voice_agents.c.organization == self._organization,
                                                          voice_agents.c.id == agent_id))

    async def record_use(self, agent_id: str, session: str, when: datetime) -> bool:
        held = (await self._c.execute(sa.select(voice_agents.c.id).where(
            voice_agents.c.organization == self._organization, voice_agents.c.id == agent_id).with_for_update(
            read=True))).first()
        if held is None:
            return False
        await self._c.execute(insert(voice_agent_uses).values(
            organization=self._organization, agent_id=agent_id, session=session, start_time=when,
        ).on_conflict_do_nothing())
        return True


class SqlVoiceAgentUnitOfWork(UnitOfWork):
    voice_agents: VoiceAgentRepository

    def __init__(self, engine: AsyncEngine, organization: str) -> None:
        super().__init__(engine)
        self.organization = organization

    def bind(self, connection: AsyncConnection) -> None:
        self.voice_agents = VoiceAgentRepository(connection, self.organization)


def _idle(idle_since: datetime) -> sa.ColumnElement[bool]:
    """The agent was made before ``idle_since`` and has no use open or ended since."""
    busy = sa.select(voice_agent_uses.c.agent_id).where(
        voice_agent_uses.c.organization == voice_agents.c.organization,
        voice_agent_uses.c.agent_id == voice_agents.c.id,
        sa.or_(voice_agent_uses.c.end_time.is_(None), voice_agent_uses.c.end_time >= idle_since))
    return sa.and_(voice_agents.c.create_time < idle_since, ~sa.exists(busy))


class SqlCleanupStore:
    """Clean-up's reads and writes, each its own short transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def open_uses(self, limit: int) -> list[AgentUse]:
        """The open uses checked least recently (never checked first), so long calls do not hide the others."""
        async with self._engine.connect() as c:
            rows = await c.execute(sa.select(voice_agent_uses.c.organization, voice_agent_uses.c.agent_id,
                                             voice_agent_uses.c.session)
                                   .where(voice_agent_uses.c.end_time.is_(None))
                                   .order_by(voice_agent_uses.c.check_time.asc().nulls_first()).limit(limit))
            return [AgentUse(*row) for row in rows]

    async def checked_use(self, use: AgentUse, end_time: datetime | None) -> None:
        async with self._engine.begin() as c:
            await c.execute(voice_agent_uses.update().where(
                voice_agent_uses.c.organization == use.organization, voice_agent_uses.c.agent_id == use.agent_id,
                voice_agent_uses.c.session == use.session).values(end_time=end_time, check_time=sa.func.now()))

    async def idle_agents(self, idle_since: datetime, limit: int) -> list[VoiceAgent]:
        async with self._engine.connect() as c:
            rows = await c.execute(sa.select(voice_agents).where(_idle(idle_since))
                                   .order_by(voice_agents.c.create_time).limit(limit))
            return [_agent(row) for row in rows]

    async def retire(self, agent: VoiceAgent, idle_since: datetime) -> bool:
        async with self._engine.begin() as c:
            await c.execute(_key_lock(agent.organization, agent.spec.provider, agent.cache_key))
            # The row lock waits for a start recording a use of the agent (it holds the row shared) to finish.
            still_idle = (await c.execute(sa.select(voice_agents.c.id).where(
                voice_agents.c.organization == agent.organization, voice_agents.c.id == agent.id,
                _idle(idle_since)).with_for_update())).first()
            if still_idle is None:
                return False
            await c.execute(voice_agents.delete().where(voice_agents.c.organization == agent.organization,
                                                        voice_agents.c.id == agent.id))
            await _queue_deletion(c, agent.organization, agent.spec.provider, agent.provider_agent_id)
            return True

    async def due_deletions(self, now: datetime, limit: int) -> list[Deletion]:
        async with self._engine.connect() as c:
            rows = await c.execute(sa.select(
                voice_agent_deletions.c.id, voice_agent_deletions.c.organization, voice_agent_deletions.c.provider,
                voice_agent_deletions.c.provider_agent_id, voice_agent_deletions.c.attempts)
                .where(voice_agent_deletions.c.state == PENDING, voice_agent_deletions.c.next_attempt_time <= now)
                .order_by(voice_agent_deletions.c.next_attempt_time).limit(limit))
            return [Deletion(*row) for row in rows]

    async def _update(self, deletion: Deletion, **values: Any) -> None:
        async with self._engine.begin() as c:
            await c.execute(voice_agent_deletions.update().where(voice_agent_deletions.c.id == deletion.id)
                            .values(attempts=deletion.attempts + 1, **values))

    async def deletion_done(self, deletion: Deletion) -> None:
        await self._update(deletion, state=DONE, last_error="", finish_time=sa.func.now())

    async def deletion_failed(self, deletion: Deletion, error: str, retry_at: datetime | None) -> None:
        if retry_at is None:
            await self._update(deletion, state=FAILED, last_error=error[:1000], finish_time=sa.func.now())
        else:
            await self._update(deletion, next_attempt_time=retry_at, last_error=error[:1000])


    async def prune_done(self, done_before: datetime, limit: int) -> int:
        d = voice_agent_deletions.c
        oldest = (sa.select(d.id).where(d.state == DONE, d.finish_time < done_before).order_by(d.finish_time)
                  .limit(limit))
        async with self._engine.begin() as c:
            return len((await c.execute(voice_agent_deletions.delete().where(d.id.in_(oldest)).returning(d.id)))
                       .all())


class AdvisorySweepLock:
    """A background job's lock (the clean-up's unless named) as a session-level advisory lock on a connection of its
    own, held for the sweep."""

    def __init__(self, engine: AsyncEngine, name: str = CLEANUP_LOCK) -> None:
        self._engine = engine
        self._name = name

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[bool]:
        lock_id = sa.func.hashtextextended(self._name, 0)
        async with self._engine.connect() as c:
            acquired = bool(await c.scalar(sa.select(sa.func.pg_try_advisory_lock(lock_id))))
            await c.commit()
            try:
                yield acquired
            finally:
                if acquired:
                    await c.scalar(sa.select(sa.func.pg_advisory_unlock(lock_id)))
                    await c.commit()
