"""The analysis schema's units of work: one transaction over the repositories, or a read without one."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analysis_svc.adapters import tables
from analysis_svc.adapters.finding_outbox import FindingDeliveries
from analysis_svc.adapters.repositories import AnalysisRepository, AuditRepository
from analysis_svc.adapters.session_risk_store import SessionRiskRepository
from analysis_svc.adapters.switching_rules import SwitchingRuleRepository
from svckit.db import RequestLog, UnitOfWork, autocommit
from svckit.notify import notify

# "{organization}/{session_id}:" followed by "{analysis_id}" (a new analysis), "suggestion:{suggestion_id}" (a
# suggestion applied or dismissed), "audit:{audit_id}" (the session's audit), "risk:{score}" (its risk rose) or
# "risk_alert:" (its risk reached the policy's escalation threshold).
CHANGES_CHANNEL = "analysis_changes"
# "{organization}": its switching rules changed (one created or deleted), so every replica reads them again.
RULES_CHANNEL = "analysis_switching_rules"


class AnalysisUnitOfWork(UnitOfWork):
    analyses: AnalysisRepository
    audits: AuditRepository
    switching_rules: SwitchingRuleRepository
    session_risks: SessionRiskRepository
    finding_deliveries: FindingDeliveries

    def bind(self, connection: AsyncConnection) -> None:
        self.analyses = AnalysisRepository(connection)
        self.audits = AuditRepository(connection)
        self.switching_rules = SwitchingRuleRepository(connection)
        self.session_risks = SessionRiskRepository(connection)
        self.finding_deliveries = FindingDeliveries(connection)

    def requests_of(self, organization: str) -> RequestLog:
        return RequestLog(self.connection, tables.request_log, organization)

    async def announce(self, change: str) -> None:
        """Tells every replica's watchers of the change once this transaction commits."""
        await notify(self.connection, CHANGES_CHANNEL, change)

    async def announce_rules(self, organization: str) -> None:
        """Tells every replica, once this transaction commits, that the organization's switching rules changed."""
        await notify(self.connection, RULES_CHANNEL, organization)


class AnalysisDatabase:
    """Units of work on one engine: transactions, and reads outside any transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = autocommit(engine)

    def transaction(self) -> AnalysisUnitOfWork:
        return AnalysisUnitOfWork(self._engine)

    def read(self) -> AnalysisUnitOfWork:
        return AnalysisUnitOfWork(self._reads)
