"""Voice agents in the ``persona`` schema: their table, repository and unit of work, confined to one
organization."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from persona_svc.adapters.tables import metadata
from persona_svc.domain.voice_agents import AgentSpec, VoiceAgent
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
        # A transaction-level advisory lock: released at commit or rollback, held across every replica.
        key = f"voice_agent:{self._organization}:{provider}:{cache_key}"
        await self._c.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))

    async def add(self, agent: VoiceAgent) -> None:
        await self._c.execute(voice_agents.insert().values(
            organization=agent.organization, id=agent.id, provider=agent.spec.provider, cache_key=agent.cache_key,
            provider_agent_id=agent.provider_agent_id, persona_id=agent.spec.persona_id,
            spec=records.to_record(agent.spec), create_time=agent.create_time))


class SqlVoiceAgentUnitOfWork(UnitOfWork):
    voice_agents: VoiceAgentRepository

    def __init__(self, engine: AsyncEngine, organization: str) -> None:
        super().__init__(engine)
        self.organization = organization

    def bind(self, connection: AsyncConnection) -> None:
        self.voice_agents = VoiceAgentRepository(connection, self.organization)
