"""The transcript store's unit of work: one transaction (or, on an autocommit engine, reads) on one connection."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from svckit.db import RequestLog, UnitOfWork
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
    """Announcements as PostgreSQL NOTIFY, delivered when the transaction commits: kept until then and sent with the
    transaction's last writes in one statement just before the commit, so a use case pays one round trip for all it
    announces."""

    def __init__(self) -> None:
        self._due: list[tuple[str, str]] = []

    async def session_ended(self, organization: str, session_id: str) -> None:
        self._due.append((SESSIONS_CHANNEL, f"ended:{session_id}:{organization}"))

    async def command_sent(self, organization: str, session_id: str, command_id: str) -> None:
        self._due.append((COMMANDS_CHANNEL, f"{session_id}:{command_id}:{organization}"))

    async def approval_changed(self, organization: str, session_id: str, approval_id: str) -> None:
        self._due.append((APPROVALS_CHANNEL, f"{session_id}:{approval_id}:{organization}"))

    async def outbox_due(self) -> None:
        self._due.append((OUTBOX_CHANNEL, ""))

    def take(self) -> list[tuple[str, str]]:
        """What was announced, (channel, payload) each, to send within the transaction about to commit."""
        due, self._due = self._due, []
        return due


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
        self.sessions = SessionRepository(connection, self.last_writes)
        self.messages = MessageRepository(connection)
        self.commands = CommandRepository(connection)
        self.handoffs = HandoffRepository(connection, self.last_writes)
        self.outbox = OutboxRepository(connection, self.last_writes)
        self.voice_rounds = VoiceRoundRepository(connection)
        self.approvals = ApprovalRepository(connection)
        self.guardrail_checks = GuardrailCheckRepository(connection, self.last_writes)
        self.announce = NotifyAnnouncements()

    def requests(self, organization: str) -> RequestLog:
        return RequestLog(self.connection, tables.request_log, organization, self.last_writes)

    def announcements(self) -> list[tuple[str, str]]:
        return self.announce.take()
