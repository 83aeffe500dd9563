"""Voice rounds in the ``transcript`` schema: their table and repository."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from transcript_svc.adapters.tables import metadata
from transcript_svc.domain.voice_rounds import RoundEndReason, VoiceRound

voice_rounds = sa.Table(
    "voice_rounds", metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("round_number", sa.Integer, primary_key=True),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("voice_agent", sa.Text, nullable=False),
    sa.Column("provider_agent_id", sa.Text, nullable=False),
    sa.Column("signed_url", sa.Text, nullable=False),
    sa.Column("access_token", sa.Text, nullable=False),
    sa.Column("agent_reused", sa.Boolean, nullable=False),
    sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("end_time", sa.DateTime(timezone=True)),
    sa.Column("persona", sa.Text, nullable=False),
    sa.Column("end_reason", sa.Text),
    sa.Column("handoff", sa.Text, nullable=False),
)
_COLUMNS = [c for c in voice_rounds.c if c.name != "organization"]


def voice_round_of(row: Any) -> VoiceRound:
    voice_round = VoiceRound(**{column.name: getattr(row, column.name) for column in _COLUMNS})
    return replace(voice_round, end_reason=RoundEndReason(row.end_reason) if row.end_reason else None)


def live_round(organization: str, session_id: str) -> sa.Select[Any]:
    """The session's live round: the one not ended, if any."""
    return sa.select(*_COLUMNS).where(voice_rounds.c.organization == organization,
                                      voice_rounds.c.session_id == session_id, voice_rounds.c.end_time.is_(None))


class VoiceRoundRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    @staticmethod
    def _of(organization: str, session_id: str) -> tuple[sa.ColumnElement[bool], ...]:
        return voice_rounds.c.organization == organization, voice_rounds.c.session_id == session_id

    async def get(self, organization: str, session_id: str, round_number: int) -> VoiceRound | None:
        row = (await self._c.execute(sa.select(*_COLUMNS).where(
            *self._of(organization, session_id), voice_rounds.c.round_number == round_number))).first()
        return voice_round_of(row) if row else None

    async def live(self, organization: str, session_id: str) -> VoiceRound | None:
        row = (await self._c.execute(live_round(organization, session_id))).first()
        return voice_round_of(row) if row else None

    async def last_number(self, organization: str, session_id: str) -> int:
        return (await self._c.execute(sa.select(sa.func.coalesce(sa.func.max(voice_rounds.c.round_number), 0))
                                      .where(*self._of(organization, session_id)))).scalar_one()

    async def add(self, organization: str, voice_round: VoiceRound) -> None:
        await self._c.execute(voice_rounds.insert().values(
            organization=organization, **{column.name: getattr(voice_round, column.name) for column in _COLUMNS}))

    async def end_live(self, organization: str, session_id: str, when: datetime,
                       reason: RoundEndReason) -> VoiceRound | None:
        """Ends the session's live round, if it has one; returns it ended."""
        row = (await self._c.execute(
            voice_rounds.update().where(*self._of(organization, session_id), voice_rounds.c.end_time.is_(None))
            .values(end_time=when, end_reason=reason.value).returning(*_COLUMNS))).first()
        return voice_round_of(row) if row else None

    async def list(self, organization: str, session_id: str, after: int, limit: int) -> list[VoiceRound]:
        rows = await self._c.execute(
            sa.select(*_COLUMNS).where(*self._of(organization, session_id), voice_rounds.c.round_number > after)
            .order_by(voice_rounds.c.round_number).limit(limit))
        return [voice_round_of(row) for row in rows]
