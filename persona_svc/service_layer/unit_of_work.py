from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from persona_svc.adapters import tables
from persona_svc.adapters.repositories import ArchetypeRepository, PersonaRepository, ScenarioRepository
from svckit.db import RequestLog, UnitOfWork


class CatalogueUnitOfWork(UnitOfWork):
    personas: PersonaRepository
    scenarios: ScenarioRepository
    archetypes: ArchetypeRepository
    requests: RequestLog

    def bind(self, connection: AsyncConnection) -> None:
        self.personas = PersonaRepository(connection)
        self.scenarios = ScenarioRepository(connection)
        self.archetypes = ArchetypeRepository(connection)
        self.requests = RequestLog(connection, tables.request_log)
