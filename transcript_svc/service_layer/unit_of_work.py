from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from svckit.db import RequestLog, UnitOfWork
from transcript_svc.adapters import tables
from transcript_svc.adapters.repositories import (
    CommandRepository,
    MessageRepository,
    OutboxRepository,
    SessionRepository,
)


class TranscriptUnitOfWork(UnitOfWork):
    sessions: SessionRepository
    messages: MessageRepository
    commands: CommandRepository
    outbox: OutboxRepository
    requests: RequestLog

    def bind(self, connection: AsyncConnection) -> None:
        self.sessions = SessionRepository(connection)
        self.messages = MessageRepository(connection)
        self.commands = CommandRepository(connection)
        self.outbox = OutboxRepository(connection)
        self.requests = RequestLog(connection, tables.request_log)
