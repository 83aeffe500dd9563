"""Safety policies on PostgreSQL: their tables, repository and unit of work, confined to one organization."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from persona_svc.adapters import tables
from persona_svc.adapters.repositories import PersonaRepository
from persona_svc.domain.safety import PolicySource, SafetyPolicy, SafetyPolicyFields, SafetyPolicyVersion
from svckit.db import RequestLog, UnitOfWork
from svckit.errors import AlreadyExists

# persona_id "" holds the organization's default.
safety_policies = sa.Table(
    "safety_policies",
    tables.metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("persona_id", sa.Text, primary_key=True),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("fields", JSONB, nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

safety_policy_versions = sa.Table(
    "safety_policy_versions",
    tables.metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("persona_id", sa.Text, primary_key=True),
    sa.Column("revision", sa.BigInteger, primary_key=True),
    sa.Column("restored_revision", sa.BigInteger, nullable=False),
    sa.Column("fields", JSONB, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)


def _policy(row: Any) -> SafetyPolicy:
    source = PolicySource.PERSONA if row.persona_id else PolicySource.ORGANIZATION
    return SafetyPolicy(persona_id=row.persona_id, fields=SafetyPolicyFields.from_record(row.fields), source=source,
                        revision=row.revision, update_time=row.update_time)


def _version(row: Any) -> SafetyPolicyVersion:
    return SafetyPolicyVersion(persona_id=row.persona_id, revision=row.revision,
                               restored_revision=row.restored_revision,
                               fields=SafetyPolicyFields.from_record(row.fields), author=row.author,
                               create_time=row.create_time)


class SafetyPolicyRepository:
    def __init__(self, connection: AsyncConnection, organization: str) -> None:
        self._c = connection
        self._organization = organization

    async def get(self, persona_id: str, *, for_update: bool = False) -> SafetyPolicy | None:
        p = safety_policies.c
        query = sa.select(safety_policies).where(p.organization == self._organization, p.persona_id == persona_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._c.execute(query)).first()
        return _policy(row) if row else None

    async def save(self, policy: SafetyPolicy, restored_revision: int, author: str) -> None:
        """Writes ``policy`` (inserted at revision 1, else updated) and its version."""
        key = {"organization": self._organization, "persona_id": policy.persona_id}
        record = policy.fields.to_record()
        if policy.revision == 1:
            await self._c.execute(safety_policies.insert().values(
                **key, revision=1, fields=record, update_time=policy.update_time))
        else:
            p = safety_policies.c
            await self._c.execute(safety_policies.update().where(
                p.organization == self._organization, p.persona_id == policy.persona_id,
            ).values(revision=policy.revision, fields=record, update_time=policy.update_time))
        await self._c.execute(safety_policy_versions.insert().values(
            **key, revision=policy.revision, restored_revision=restored_revision, fields=record, author=author,
            create_time=policy.update_time))

    async def get_version(self, persona_id: str, revision: int) -> SafetyPolicyVersion | None:
        v = safety_policy_versions.c
        row = (await self._c.execute(sa.select(safety_policy_versions).where(
            v.organization == self._organization, v.persona_id == persona_id, v.revision == revision))).first()
        return _version(row) if row else None

    async def list_versions(self, persona_id: str, before_revision: int | None,
                            limit: int) -> list[SafetyPolicyVersion]:
        v = safety_policy_versions.c
        query = (sa.select(safety_policy_versions)
                 .where(v.organization == self._organization, v.persona_id == persona_id)
                 .order_by(v.revision.desc()).limit(limit))
        if before_revision is not None:
            query = query.where(v.revision < before_revision)
        return [_version(row) for row in await self._c.execute(query)]


class SqlSafetyPolicyUnitOfWork(UnitOfWork):
    personas: PersonaRepository
    policies: SafetyPolicyRepository
    requests: RequestLog

    def __init__(self, engine: AsyncEngine, organization: str) -> None:
        super().__init__(engine)
        self.organization = organization

    def bind(self, connection: AsyncConnection) -> None:
        self.personas = PersonaRepository(connection, self.organization)
        self.policies = SafetyPolicyRepository(connection, self.organization)
        self.requests = RequestLog(connection, tables.request_log, self.organization)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await super().__aexit__(exc_type, exc, traceback)
        if isinstance(exc, sa_exc.IntegrityError):
            # Two first writes of the same policy: the loser's insert meets the winner's row.
            raise AlreadyExists("a concurrent request wrote the same safety policy; read it and retry",
                                reason="CONFLICT") from exc
