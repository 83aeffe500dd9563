"""The catalogue's unit of work on PostgreSQL: one transaction, or one read without, and its repositories, all
confined to one organization."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import sqlalchemy.exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from persona_svc.adapters import tables
from persona_svc.adapters.repositories import ArchetypeRepository, PersonaRepository, ScenarioRepository
from svckit.db import RequestLog, UnitOfWork
from svckit.errors import AlreadyExists
from svckit.usecase import RequestRecords


class OrganizationRequestLog:
    """The request log of one organization: its request ids are kept under the organization's name, so two
    organizations may use the same request id."""

    def __init__(self, log: RequestRecords, organization: str) -> None:
        self._log = log
        self._prefix = f"{organization}/"

    async def claim(self, request_id: str, method: str, fingerprint: str) -> Any | None:
        return await self._log.claim(self._prefix + request_id, method, fingerprint)

    async def record(self, request_id: str, response: Any) -> None:
        await self._log.record(self._prefix + request_id, response)


class SqlCatalogueUnitOfWork(UnitOfWork):
    personas: PersonaRepository
    scenarios: ScenarioRepository
    archetypes: ArchetypeRepository
    requests: OrganizationRequestLog

    def __init__(self, engine: AsyncEngine, organization: str) -> None:
        super().__init__(engine)
        self.organization = organization

    def bind(self, connection: AsyncConnection) -> None:
        self.personas = PersonaRepository(connection, self.organization)
        self.scenarios = ScenarioRepository(connection, self.organization)
        self.archetypes = ArchetypeRepository(connection, self.organization)
        self.requests = OrganizationRequestLog(RequestLog(connection, tables.request_log), self.organization)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await super().__aexit__(exc_type, exc, traceback)
        if isinstance(exc, sa_exc.IntegrityError):
            # A concurrent writer won a uniqueness race the use case's checks could not see.
            raise AlreadyExists("a concurrent request created the same resource or slug; read it and retry",
                                reason="CONFLICT") from exc
