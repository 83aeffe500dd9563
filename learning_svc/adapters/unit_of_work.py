"""The learning schema's unit of work: one transaction (or, on the read engine, none) and its repositories."""

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

    def bind(self, connection: AsyncConnection) -> None:
        self.audits = AuditRepository(connection)
        self.feedback = FeedbackRepository(connection)
        self.events = TrainingEventRepository(connection)
        self.modules = ModuleRepository(connection)
        self.patches = PatchRepository(connection)
        self.experiments = ExperimentRepository(connection)
        self.runs = RunRepository(connection)
        self.requests = RequestLog(connection, REQUEST_LOG)


class LearningUnitsOfWork:
    """Units of work on one engine: transactions, and reads on its autocommit view (no BEGIN/ROLLBACK)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = autocommit(engine)

    def transaction(self) -> LearningUnitOfWork:
        return LearningUnitOfWork(self._engine)

    def read(self) -> LearningUnitOfWork:
        return LearningUnitOfWork(self._reads)
