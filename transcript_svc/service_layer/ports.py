"""What the transcript use cases need from the world, as protocols; ``app.py`` chooses what implements them."""

from __future__ import annotations

import asyncio
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from svckit.usecase import RequestRecords
from transcript_svc.domain.model import Command, ExperimentVariant, Message, Outcome, Session, Utterance
from transcript_svc.domain.voice_rounds import AgentGrant, VoiceRound

# Filters of ListSessions: persona, scenario, blueprint and state by value, start_from and start_to as times, and
# participant: a subject that interviews or streams each session listed.
SessionFilters = dict[str, str | datetime | None]


class Sessions(Protocol):
    """Sessions of one organization at a time: every method names it, and finds nothing of another."""

    async def get(self, organization: str, session_id: str, *, for_update: bool = False) -> Session | None: ...

    async def add(self, session: Session) -> None: ...

    async def end(self, session: Session) -> None: ...

    async def stream_epoch(self, organization: str, session_id: str) -> int | None: ...

    async def forget_candidate(self, organization: str, candidate: str) -> int:
        """Empties the candidate of the sessions naming ``candidate`` and drops the saved replies naming it;
        the number of sessions changed."""
        ...

    async def claim_stream(self, organization: str, session_id: str, last_known_sequence: int,
                           gateway: str) -> tuple[Session, int] | None:
        """Makes the caller the newest stream of the session, if it has not ended, holds
        ``last_known_sequence`` and is ``gateway``'s or no gateway's yet (which makes it ``gateway``'s; ''
        claims any session and assigns none), and announces it at commit. Returns the session and the
        stream's epoch; None when no such session is there for this gateway to stream."""
        ...

    async def list(self, organization: str, filters: SessionFilters, after: tuple[datetime, str] | None,
                   limit: int) -> list[Session]: ...


class Messages(Protocol):
    """Reads only: utterances are written by the group commit."""

    async def get(self, organization: str, session_id: str, sequence: int) -> Message | None: ...

    async def page(self, organization: str, session_id: str, after: int, up_to: int | None,
                   limit: int) -> list[Message]: ...

    async def last(self, organization: str, session_id: str, up_to: int | None, count: int) -> list[Message]: ...


class Commands(Protocol):
    async def get(self, organization: str, session_id: str, command_id: str) -> Command | None: ...

    async def add(self, organization: str, command: Command) -> None: ...

    async def unacknowledged(self, organization: str, session_id: str) -> list[Command]: ...

    async def mark_delivered(self, organization: str, session_id: str, command_ids: list[str],
                             when: datetime) -> None: ...

    async def acknowledge(self, organization: str, session_id: str, command_id: str, when: datetime) -> bool:
        """False when there is no such command."""
        ...

    async def list(self, organization: str, session_id: str, state: str | None, source: str | None,
                   after: int | None, limit: int) -> list[tuple[int, Command]]:
        """The commands after position ``after``, each with its position (the page cursor)."""
        ...


class VoiceRounds(Protocol):
    async def get(self, organization: str, session_id: str, round_number: int) -> VoiceRound | None: ...

    async def live(self, organization: str, session_id: str) -> VoiceRound | None: ...

    async def last_number(self, organization: str, session_id: str) -> int:
        """The highest round number of the session; 0 before its first round."""
        ...

    async def add(self, organization: str, voice_round: VoiceRound) -> None: ...

    async def end_live(self, organization: str, session_id: str, when: datetime) -> VoiceRound | None: ...

    async def list(self, organization: str, session_id: str, after: int, limit: int) -> list[VoiceRound]: ...


class Outbox(Protocol):
    async def enqueue(self, organization: str, session_id: str, kind: str, up_to_sequence: int) -> None: ...


class Announcements(Protocol):
    """What the replicas hear once the transaction commits."""

    async def session_ended(self, organization: str, session_id: str) -> None: ...

    async def command_sent(self, organization: str, session_id: str, command_id: str) -> None: ...

    async def outbox_due(self) -> None: ...


class TranscriptUnitOfWork(Protocol):
    """One transaction over the transcript store: ``async with uow: ...; await uow.commit()``."""

    @property
    def sessions(self) -> Sessions: ...

    @property
    def messages(self) -> Messages: ...

    @property
    def commands(self) -> Commands: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def voice_rounds(self) -> VoiceRounds: ...

    def requests(self, organization: str) -> RequestRecords:
        """The request ids of ``organization``."""
        ...

    @property
    def announce(self) -> Announcements: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None: ...

    async def commit(self) -> None: ...


class Personas(Protocol):
    async def require_usable(self, name: str) -> object:
        """Returns if the persona exists and is not deleted; raises NotFound, FailedPrecondition or Unavailable."""
        ...


class Experiments(Protocol):
    async def variant_for(self, organization: str, persona: str, session_id: str) -> ExperimentVariant | None:
        """The variant of the persona's running experiment the session gets; None for none, or when the learning
        service does not answer in time (the session plays the control). Never raises."""
        ...


class VoiceAgents(Protocol):
    async def provision(self, session: str, persona: str, scenario: str, provider: str) -> AgentGrant:
        """The persona's voice agent at the provider for the session (created or reused by the persona service);
        its refusals are domain errors naming the field or reason, its failure to answer Unavailable."""
        ...


class UtteranceCommitter(Protocol):
    async def submit(self, organization: str, session_id: str, utterance: Utterance,
                     epoch: int) -> asyncio.Future[Outcome]:
        """Queues an utterance of the stream ``epoch`` (waiting while the queue is full); the future gives its
        ``Outcome`` once committed, or the error that kept it from being committed."""
        ...
