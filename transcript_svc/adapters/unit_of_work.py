"""The transcript store's unit of work: one transaction (or, on an autocommit engine, reads) on one connection."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from svckit.db import RequestLog, UnitOfWork
from svckit.notify import notify
from transcript_svc.adapters import tables
from transcript_svc.adapters.approval_store import ApprovalRepository
from transcript_svc.adapters.channels import APPROVALS_CHANNEL, COMMANDS_CHANNEL, OUTBOX_CHANNEL, SESSIONS_CHANNEL
from transcript_svc.adapters.guardrail_check_store import GuardrailCheckRepository
from transcript_svc.adapters.repositories import (
    CommandRepository,
    HandoffRepository,
    MessageRepository,
    OutboxRepository,
    SessionRepository,
)
from transcript_svc.adapters.voice_round_store import VoiceRoundRepository


class NotifyAnnouncements:
    """Announcements as PostgreSQL NOTIFY, delivered when the transaction commits."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def session_ended(self, organization: str, session_id: str) -> None:
        await notify(self._c, SESSIONS_CHANNEL, f"ended:{session_id}:{organization}")

    async def command_sent(self, organization: str, session_id: str, command_id: str) -> None:
        await notify(self._c, COMMANDS_CHANNEL, f"{session_id}:{command_id}:{organization}")

    async def approval_changed(self, organization: str, session_id: str, approval_id: str) -> None:
        await notify(self._c, APPROVALS_CHANNEL, f"{session_id}:{approval_id}:{organization}")

    async def outbox_due(self) -> None:
        await notify(self._c, OUTBOX_CHANNEL, "")


class DatabaseUnitOfWork(UnitOfWork):
    sessions: SessionRepository
    messages: MessageRepository
    commands: CommandRepository
    handoffs: HandoffRepository
    outbox: OutboxRepository
    voice_rounds: VoiceRoundRepository
    approvals: ApprovalRepository
    guardrail_checks: GuardrailCheckRepository
    announce: NotifyAnnouncements

    def bind(self, connection: AsyncConnection) -> None:
        self.sessions = SessionRepository(connection)
        self.messages = MessageRepository(connection)
        self.commands = CommandRepository(connection)
        self.handoffs = HandoffRepository(connection)
        self.outbox = OutboxRepository(connection)
        self.voice_rounds = VoiceRoundRepository(connection)
        self.approvals = ApprovalRepository(connection)
        self.guardrail_checks = GuardrailCheckRepository(connection)
        self.announce = NotifyAnnouncements(connection)

    def requests(self, organization: str) -> RequestLog:
        return RequestLog(self.connection, tables.request_log, organization)
