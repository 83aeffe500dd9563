"""In-memory stand-ins for the ports of the transcript service layer: a unit of work whose repositories keep
what a committed transaction wrote (and drop what a rolled-back one did), the persona service, the group commit."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from types import TracebackType
from typing import Any

from svckit.errors import NotFound
from tests.unit.request_log_fake import InMemoryRequestLog
from transcript_svc.domain.model import Command, Message, Outcome, Session, Utterance
from transcript_svc.service_layer.ports import SessionFilters


@dataclasses.dataclass
class TranscriptStore:
    """What is committed: sessions, commands by (session, id), outbox rows, request log rows
    (request id -> method, fingerprint, response) and the announcements made at commit."""

    sessions: dict[str, Session] = dataclasses.field(default_factory=dict)
    commands: dict[tuple[str, str], Command] = dataclasses.field(default_factory=dict)
    outbox: list[tuple[str, str, int]] = dataclasses.field(default_factory=list)
    requests: dict[str, tuple[str, str, Any]] = dataclasses.field(default_factory=dict)
    announcements: list[tuple[str, ...]] = dataclasses.field(default_factory=list)

    def copy(self) -> TranscriptStore:
        return TranscriptStore(dict(self.sessions), dict(self.commands), list(self.outbox), dict(self.requests),
                               list(self.announcements))


class FakeSessions:
    def __init__(self, store: TranscriptStore) -> None:
        self._store = store

    async def get(self, session_id: str, *, for_update: bool = False) -> Session | None:
        return self._store.sessions.get(session_id)

    async def add(self, session: Session) -> None:
        self._store.sessions[session.id] = session

    async def end(self, session: Session) -> None:
        self._store.sessions[session.id] = session

    async def stream_epoch(self, session_id: str) -> int | None:
        raise NotImplementedError("no use case under test reads the stream epoch")

    async def claim_stream(self, session_id: str, last_known_sequence: int) -> tuple[Session, int] | None:
        raise NotImplementedError("no use case under test opens a stream")

    async def list(self, filters: SessionFilters, after: tuple[datetime, str] | None, limit: int) -> list[Session]:
        raise NotImplementedError("no use case under test lists sessions")


class FakeMessages:
    async def get(self, session_id: str, sequence: int) -> Message | None:
        raise NotImplementedError("no use case under test reads messages")

    async def page(self, session_id: str, after: int, up_to: int | None, limit: int) -> list[Message]:
        raise NotImplementedError("no use case under test reads messages")

    async def last(self, session_id: str, up_to: int | None, count: int) -> list[Message]:
        raise NotImplementedError("no use case under test reads messages")


class FakeCommands:
    def __init__(self, store: TranscriptStore) -> None:
        self._store = store

    async def get(self, session_id: str, command_id: str) -> Command | None:
        return self._store.commands.get((session_id, command_id))

    async def add(self, command: Command) -> None:
        self._store.commands[(command.session_id, command.id)] = command

    async def unacknowledged(self, session_id: str) -> list[Command]:
        raise NotImplementedError("no use case under test delivers commands")

    async def mark_delivered(self, session_id: str, command_ids: list[str], when: datetime) -> None:
        raise NotImplementedError("no use case under test delivers commands")

    async def acknowledge(self, session_id: str, command_id: str, when: datetime) -> bool:
        raise NotImplementedError("no use case under test acknowledges commands")

    async def list(self, session_id: str, state: str | None, source: str | None, after: int | None,
                   limit: int) -> list[tuple[int, Command]]:
        raise NotImplementedError("no use case under test lists commands")


class FakeOutbox:
    def __init__(self, store: TranscriptStore) -> None:
        self._store = store

    async def enqueue(self, session_id: str, kind: str, up_to_sequence: int) -> None:
        self._store.outbox.append((session_id, kind, up_to_sequence))


class FakeAnnouncements:
    def __init__(self, store: TranscriptStore) -> None:
        self._store = store

    async def session_ended(self, session_id: str) -> None:
        self._store.announcements.append(("session_ended", session_id))

    async def command_sent(self, session_id: str, command_id: str) -> None:
        self._store.announcements.append(("command_sent", session_id, command_id))

    async def outbox_due(self) -> None:
        self._store.announcements.append(("outbox_due",))


class FakeTranscriptUnitOfWork:
    """Works on a copy of the store; ``commit`` makes the copy the store, leaving without it drops the copy."""

    def __init__(self, store: TranscriptStore) -> None:
        self._committed = store
        self._working = store.copy()

    @property
    def sessions(self) -> FakeSessions:
        return FakeSessions(self._working)

    @property
    def messages(self) -> FakeMessages:
        return FakeMessages()

    @property
    def commands(self) -> FakeCommands:
        return FakeCommands(self._working)

    @property
    def outbox(self) -> FakeOutbox:
        return FakeOutbox(self._working)

    @property
    def requests(self) -> InMemoryRequestLog:
        return InMemoryRequestLog(self._working)

    @property
    def announce(self) -> FakeAnnouncements:
        return FakeAnnouncements(self._working)

    async def __aenter__(self) -> FakeTranscriptUnitOfWork:
        self._working = self._committed.copy()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._working = self._committed.copy()

    async def commit(self) -> None:
        for field in dataclasses.fields(TranscriptStore):
            setattr(self._committed, field.name, getattr(self._working, field.name))
        self._working = self._committed.copy()


class FakePersonas:
    """The persona service: the personas named ``usable`` exist; any other is not found."""

    def __init__(self, *usable: str) -> None:
        self._usable = set(usable)
        self.asked: list[str] = []

    async def require_usable(self, name: str) -> None:
        self.asked.append(name)
        if name not in self._usable:
            raise NotFound(name, reason="PERSONA_NOT_FOUND")


class FakeCommitter:
    """The group commit: settles every utterance at once, with the outcome set for its sequence (STORED unless
    told otherwise), or with the error set for it."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, Utterance, int]] = []
        self.outcomes: dict[int, Outcome | Exception] = {}

    async def submit(self, session_id: str, utterance: Utterance, epoch: int) -> asyncio.Future[Outcome]:
        self.submitted.append((session_id, utterance, epoch))
        commit: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        outcome = self.outcomes.get(utterance.sequence, Outcome.STORED)
        if isinstance(outcome, Exception):
            commit.set_exception(outcome)
        else:
            commit.set_result(outcome)
        return commit
