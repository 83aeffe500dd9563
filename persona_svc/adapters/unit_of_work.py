"""The catalogue's unit of work on PostgreSQL: one transaction, or one read without, and its repositories, all
confined to one organization."""

from __future__ import annotations

from types import TracebackType

import sqlalchemy.exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from persona_svc.adapters import tables
from persona_svc.adapters.repositories import ArchetypeRepository, PersonaRepository, ScenarioRepository
from svckit.db import RequestLog, UnitOfWork
from svckit.errors import AlreadyExists


class SqlCatalogueUnitOfWork(UnitOfWork):
    personas: PersonaRepository
    scenarios: ScenarioRepository
    archetypes: ArchetypeRepository
    requests: RequestLog

    def __init__(self, engine: AsyncEngine, organization: str) -> None:
        super().__init__(engine)
        self.organization = organization

    def bind(self, connection: AsyncConnection) -> None:
        self.personas = PersonaRepository(connection, self.organization)
        self.scenarios = ScenarioRepository(connection, self.organization)
        self.archetypes = ArchetypeRepository(connection, self.organization)
        self.requests = RequestLog(connection, tables.request_log, self.organization)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await super().__aexit__(exc_type, exc, traceback)
        if isinstance(exc, sa_exc.IntegrityError):
            # A concurrent writer won a uniqueness race the use case's checks could not see.
            raise AlreadyExists("a concurrent request created the same resource or slug; read it and retry",
                                reason="CONFLICT") from exc
