"""Sessions' risk as the transcript service delivers it: a score that only rises, and the first alert time."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from analysis_svc.adapters import tables as t
from analysis_svc.domain.model import SessionRisk

# Deliveries may repeat, cross or arrive at once: the score kept is the highest, the alert time the first, and at risk
# once any delivery was. The row is made if missing, then locked and read, so that what it held before each delivery
# is known whatever runs alongside.
_ENSURE = sa.text("""
INSERT INTO analysis.session_risks (organization, session_id, score, alert_time, update_time)
VALUES (:organization, :session_id, 0, NULL, now()) ON CONFLICT (organization, session_id) DO NOTHING
""")
_LOCK = sa.text("""
SELECT score, alert_time, update_time, at_risk FROM analysis.session_risks
WHERE organization = :organization AND session_id = :session_id FOR UPDATE
""")
_RAISE = sa.text("""
UPDATE analysis.session_risks SET score = :score, alert_time = :alert_time, at_risk = :at_risk, update_time = now()
WHERE organization = :organization AND session_id = :session_id
RETURNING score, alert_time, update_time, at_risk
""")


def _risk(session_id: str, row: Any) -> SessionRisk:
    return SessionRisk(session_id, row.score, row.alert_time, row.update_time, row.at_risk)


class SessionRiskRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def record(self, organization: str, risk: SessionRisk) -> tuple[SessionRisk, bool, bool]:
        key = {"organization": organization, "session_id": risk.session_id}
        await self._c.execute(_ENSURE, key)
        before = (await self._c.execute(_LOCK, key)).one()
        score, alert_time = max(before.score, risk.score), before.alert_time or risk.alert_time
        at_risk = before.at_risk or risk.at_risk
        if (score, alert_time, at_risk) == (before.score, before.alert_time, before.at_risk):
            return _risk(risk.session_id, before), False, False
        row = (await self._c.execute(_RAISE, {**key, "score": score, "alert_time": alert_time,
                                               "at_risk": at_risk})).one()
        return _risk(risk.session_id, row), score > before.score, before.alert_time is None and alert_time is not None

    async def get(self, organization: str, session_id: str) -> SessionRisk | None:
        r = t.session_risks.c
        row = (await self._c.execute(sa.select(t.session_risks).where(
            r.organization == organization, r.session_id == session_id))).first()
        return _risk(session_id, row) if row else None
