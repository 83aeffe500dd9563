"""The learning schema's unit of work: one transaction (or, on the read engine, none) and its repositories, all
confined to one organization."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from learning_svc.adapters.repositories import (
    AuditRepository,
    ExperimentRepository,
    FeedbackRepository,
    ModuleRepository,
    PatchRepository,
    RunRepository,
    TrainingEventRepository,
)
from learning_svc.adapters.tables import REQUEST_LOG
from svckit.db import RequestLog, UnitOfWork, autocommit


class LearningUnitOfWork(UnitOfWork):
    audits: AuditRepository
    feedback: FeedbackRepository
    events: TrainingEventRepository
    modules: ModuleRepository
    patches: PatchRepository
    experiments: ExperimentRepository
    runs: RunRepository
    requests: RequestLog

    def __init__(self, engine: AsyncEngine, organization: str) -> None:
        super().__init__(engine)
        self.organization = organization

    def bind(self, connection: AsyncConnection) -> None:
        self.audits = AuditRepository(connection, self.organization)
        self.feedback = FeedbackRepository(connection, self.organization)
        self.events = TrainingEventRepository(connection, self.organization)
        self.modules = ModuleRepository(connection, self.organization)
        self.patches = PatchRepository(connection, self.organization)
        self.experiments = ExperimentRepository(connection, self.organization)
        self.runs = RunRepository(connection, self.organization)
        self.requests = RequestLog(connection, REQUEST_LOG, self.organization)


class LearningUnitsOfWork:
    """Units of work on one engine: transactions, and reads on its autocommit view (no BEGIN/ROLLBACK)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = autocommit(engine)

    def transaction(self, organization: str) -> LearningUnitOfWork:
        return LearningUnitOfWork(self._engine, organization)

    def read(self, organization: str) -> LearningUnitOfWork:
        return LearningUnitOfWork(self._reads, organization)
