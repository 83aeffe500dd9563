"""Sessions' risk, delivered by the transcript service (which keeps it from its guardrail checks), for their snapshots
and watchers: each rise of the score, and the one alert, announced to every replica's watchers."""

from __future__ import annotations

from analysis_svc.domain.model import SessionRisk
from analysis_svc.service_layer.ports import Database


class SessionRisks:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def record(self, organization: str, risk: SessionRisk) -> SessionRisk:
        """Keeps the higher score and the first alert; the risk as stored."""
        async with self._database.transaction() as uow:
            stored, rose, alerted = await uow.session_risks.record(organization, risk)
            if rose:
                await uow.announce(f"{organization}/{risk.session_id}:risk:{stored.score}")
            if alerted:
                await uow.announce(f"{organization}/{risk.session_id}:risk_alert:")
            await uow.commit()
        return stored

    async def of_session(self, organization: str, session_id: str) -> SessionRisk | None:
        """For a caller already admitted to the session."""
        async with self._database.read() as uow:
            return await uow.session_risks.get(organization, session_id)
