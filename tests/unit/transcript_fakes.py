"""In-memory stand-ins for the ports of the transcript service layer: a unit of work whose repositories keep
what a committed transaction wrote (and drop what a rolled-back one did), the persona service, the group commit."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from types import TracebackType

from guardrails.actions import RecentCommands
from guardrails.check_log import GuardrailCheck
from guardrails.policy import SAFE_DEFAULT, LivePolicy
from svckit.errors import NotFound
from tests.unit.request_log_fake import InMemoryRequestLog, RequestTable
from transcript_svc.domain.approvals import Approval
from transcript_svc.domain.model import Command, CommandState, Message, Outcome, Session, SessionState, Utterance
from transcript_svc.domain.voice_rounds import RoundEndReason, VoiceRound
from transcript_svc.service_layer.ports import SessionFilters


@dataclasses.dataclass
class TranscriptStore:
    """What is committed: sessions by (organization, id), commands by (organization, session, id), outbox rows,
    request log rows by organization (request id -> method, fingerprint, response) and the announcements made
    at commit."""

    sessions: dict[tuple[str, str], Session] = dataclasses.field(default_factory=dict)
    commands: dict[tuple[str, str, str], Command] = dataclasses.field(default_factory=dict)
    outbox: list[tuple[str, str, str, int]] = dataclasses.field(default_factory=list)
    requests: dict[str, RequestTable] = dataclasses.field(default_factory=dict)
    announcements: list[tuple[str, ...]] = dataclasses.field(default_factory=list)
    stream_epochs: dict[tuple[str, str], int] = dataclasses.field(default_factory=dict)
    voice_rounds: dict[tuple[str, str, int], VoiceRound] = dataclasses.field(default_factory=dict)
    guardrail_checks: list[GuardrailCheck] = dataclasses.field(default_factory=list)

    def copy(self) -> TranscriptStore:
        return TranscriptStore(dict(self.sessions), dict(self.commands), list(self.outbox),
                               {org: RequestTable(dict(table.requests)) for org, table in self.requests.items()},
                               list(self.announcements), dict(self.stream_epochs), dict(self.voice_rounds),
                               list(self.guardrail_checks))


class FakeSessions:
    def __init__(self, store: TranscriptStore) -> None:
        self._store = store

    async def get(self, organization: str, session_id: str, *, for_update: bool = False) -> Session | None:
        return self._store.sessions.get((organization, session_id))

    async def with_last_messages(self, organization: str, session_id: str, up_to: int | None,
                                 count: int) -> tuple[Session, list[Message]] | None:
        session = self._store.sessions.get((organization, session_id))
        return None if session is None else (session, [])  # the group commit writes messages; none is stored here

    async def add(self, session: Session) -> None:
        self._store.sessions[(session.organization, session.id)] = session

    async def end(self, session: Session) -> None:
        self._store.sessions[(session.organization, session.id)] = session

    async def stream_epoch(self, organization: str, session_id: str) -> int | None:
        raise NotImplementedError("no use case under test reads the stream epoch")

    async def claim_stream(self, organization: str, session_id: str, last_known_sequence: int,
                           gateway: str) -> tuple[Session, int] | None:
        key = (organization, session_id)
        session = self._store.sessions.get(key)
        if (session is None or session.state is SessionState.ENDED or session.last_sequence < last_known_sequence
                or (gateway and session.gateway not in ("", gateway))):
            return None
        if gateway:
            session = self._store.sessions[key] = dataclasses.replace(session, gateway=session.gateway or gateway)
        self._store.stream_epochs[key] = self._store.stream_epochs.get(key, 0) + 1
        return session, self._store.stream_epochs[key]

    async def list(self, organization: str, filters: SessionFilters, after: tuple[datetime, str] | None,
                   limit: int) -> list[Session]:
        """Newest first; of the filters, only ``participant`` (the rest are the SQL repository's)."""
        participant = filters.get("participant")
        found = [s for (org, _), s in self._store.sessions.items() if org == organization
                 and (not participant or participant in (s.interviewer, s.gateway))]
        found.sort(key=lambda s: (s.start_time, s.id), reverse=True)
        return [s for s in found if after is None or (s.start_time, s.id) < after][:limit]


class FakeMessages:
    async def get(self, organization: str, session_id: str, sequence: int) -> Message | None:
        return None  # the group commit writes messages; none is stored here

    async def page(self, organization: str, session_id: str, after: int, up_to: int | None,
                   limit: int) -> list[Message]:
        return []



class FakeCommands:
    def __init__(self, store: TranscriptStore) -> None:
        self._store = store

    async def get(self, organization: str, session_id: str, command_id: str) -> Command | None:
        return self._store.commands.get((organization, session_id, command_id))

    async def add(self, organization: str, command: Command) -> None:
        self._store.commands[(organization, command.session_id, command.id)] = command

    async def unacknowledged(self, organization: str, session_id: str) -> list[Command]:
        return [c for (org, session, _), c in self._store.commands.items()
                if (org, session) == (organization, session_id) and c.state is not CommandState.ACKNOWLEDGED]

    async def mark_delivered(self, organization: str, session_id: str, command_ids: list[str],
                             when: datetime) -> None:
        for command_id in command_ids:
            key = (organization, session_id, command_id)
            self._store.commands[key] = dataclasses.replace(self._store.commands[key], state=CommandState.DELIVERED,
                                                            deliver_time=when)

    async def acknowledge(self, organization: str, session_id: str, command_id: str, when: datetime) -> bool:
        raise NotImplementedError("no use case under test acknowledges commands")

    async def list(self, organization: str, session_id: str, state: str | None, source: str | None,
                   after: int | None, limit: int) -> list[tuple[int, Command]]:
        commands = [c for (org, session, _), c in self._store.commands.items()
                    if (org, session) == (organization, session_id)]
        return list(enumerate(commands, start=1))[after or 0:][:limit]

    async def recent(self, organization: str, session_id: str, since: datetime) -> RecentCommands:
        times = [c.create_time for (org, session, _), c in self._store.commands.items()
                 if (org, session) == (organization, session_id)]
        in_window = [time for time in times if time > since]
        # No message is stored here: every command is since the candidate's last turn.
        return RecentCommands(len(in_window), min(in_window, default=None), len(times))


class FixedPolicies:
    """Every persona's calls under one policy."""

    def __init__(self, policy: LivePolicy = SAFE_DEFAULT) -> None:
        self.policy = policy

    async def in_force(self, organization: str, persona: str) -> LivePolicy:
        return self.policy


class NoHandoffs:
    """The use cases under test here start no handoffs (tests/e2e/test_handoff.py does): a session has none."""

    async def accept(self, organization: str, session_id: str, command_id: str, when: datetime) -> None:
        return None

    async def close(self, organization: str, session_id: str, when: datetime) -> None:
        return None


class NoApprovals:
    """The use cases under test here hold no command for approval (tests/e2e/test_approvals.py does): a session
    has none pending."""

    async def refuse_pending(self, organization: str, session_id: str, when: datetime, reason: str) -> list[Approval]:
        return []


class FakeOutbox:
    def __init__(self, store: TranscriptStore) -> None:
        self._store = store

    async def enqueue(self, organization: str, session_id: str, kind: str, up_to_sequence: int) -> None:
        self._store.outbox.append((organization, session_id, kind, up_to_sequence))


class FakeVoiceRounds:
    def __init__(self, store: TranscriptStore) -> None:
        self._store = store

    async def end_live(self, organization: str, session_id: str, when: datetime,
                       reason: RoundEndReason) -> VoiceRound | None:
        for key, voice_round in self._store.voice_rounds.items():
            if key[:2] == (organization, session_id) and voice_round.live:
                self._store.voice_rounds[key] = dataclasses.replace(voice_round, end_time=when, end_reason=reason)
                return self._store.voice_rounds[key]
        return None


class FakeGuardrailChecks:
    def __init__(self, store: TranscriptStore) -> None:
        self._store = store

    async def add(self, *checks: GuardrailCheck) -> None:
        self._store.guardrail_checks.extend(checks)


class FakeAnnouncements:
    def __init__(self, store: TranscriptStore) -> None:
        self._store = store

    async def session_ended(self, organization: str, session_id: str) -> None:
        self._store.announcements.append(("session_ended", organization, session_id))

    async def command_sent(self, organization: str, session_id: str, command_id: str) -> None:
        self._store.announcements.append(("command_sent", organization, session_id, command_id))

    async def approval_changed(self, organization: str, session_id: str, approval_id: str) -> None:
        self._store.announcements.append(("approval_changed", organization, session_id, approval_id))

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
    def handoffs(self) -> NoHandoffs:
        return NoHandoffs()

    @property
    def approvals(self) -> NoApprovals:
        return NoApprovals()

    @property
    def outbox(self) -> FakeOutbox:
        return FakeOutbox(self._working)

    @property
    def voice_rounds(self) -> FakeVoiceRounds:
        return FakeVoiceRounds(self._working)

    @property
    def guardrail_checks(self) -> FakeGuardrailChecks:
        return FakeGuardrailChecks(self._working)

    def requests(self, organization: str) -> InMemoryRequestLog:
        return InMemoryRequestLog(self._working.requests.setdefault(organization, RequestTable()))

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
        self.submitted: list[tuple[str, str, Utterance, int]] = []
        self.outcomes: dict[int, Outcome | Exception] = {}

    async def submit(self, organization: str, session_id: str, utterance: Utterance, epoch: int,
                     checks: tuple[GuardrailCheck, ...] = ()) -> asyncio.Future[Outcome]:
        self.submitted.append((organization, session_id, utterance, epoch))
        commit: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        outcome = self.outcomes.get(utterance.sequence, Outcome.STORED)
        if isinstance(outcome, Exception):
            commit.set_exception(outcome)
        else:
            commit.set_result(outcome)
        return commit
