"""What the transcript use cases need from the world, as protocols; ``app.py`` chooses what implements them."""

from __future__ import annotations

import asyncio
import builtins
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from guardrails.actions import RecentCommands
from guardrails.check_log import CheckDecision, CheckKind, CheckScope, GuardrailCheck
from svckit.usecase import RequestRecords
from transcript_svc.domain.approvals import Approval
from transcript_svc.domain.handoff import Handoff
from transcript_svc.domain.model import Command, CommandState, ExperimentVariant, Message, Outcome, Session, Utterance
from transcript_svc.domain.voice_rounds import AgentGrant, RoundEndReason, VoiceRound

# Filters of ListSessions: persona, scenario, blueprint and state by value, start_from and start_to as times, and
# participant: a subject that interviews or streams each session listed.
SessionFilters = dict[str, str | datetime | None]


class Sessions(Protocol):
    """Sessions of one organization at a time: every method names it, and finds nothing of another."""

    async def get(self, organization: str, session_id: str, *, for_update: bool = False) -> Session | None: ...

    async def with_last_messages(self, organization: str, session_id: str, up_to: int | None,
                                 count: int) -> tuple[Session, list[Message]] | None:
        """The session and its last ``count`` messages up to ``up_to`` (None: the last stored), oldest first, read
        together; None when there is no such session."""
        ...

    async def add(self, session: Session) -> None: ...

    async def end(self, session: Session) -> None: ...

    async def stream_epoch(self, organization: str, session_id: str) -> int | None: ...

    async def hand_over(self, session: Session) -> None:
        """Stores the session's current persona, revision and update time."""
        ...

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

    async def word_total(self, organization: str, session_id: str) -> int:
        """The words of every stored message of the session."""
        ...


class Commands(Protocol):
    async def get(self, organization: str, session_id: str, command_id: str) -> Command | None: ...

    async def add(self, organization: str, command: Command) -> None: ...

    async def unacknowledged(self, organization: str, session_id: str) -> list[Command]: ...

    async def mark_delivered(self, organization: str, session_id: str, command_ids: list[str],
                             when: datetime) -> None: ...

    async def deliver(self, organization: str, session_id: str, command_id: str, when: datetime) -> Command | None:
        """Marks the command delivered, in one statement, if it is still to be sent (not acknowledged); the command as
        it was before, None if it was not to be sent."""
        ...

    async def acknowledge(self, organization: str, session_id: str, command_id: str, when: datetime) -> bool:
        """False when there is no such command."""
        ...

    async def list(self, organization: str, session_id: str, state: str | None, source: str | None,
                   after: int | None, limit: int) -> list[tuple[int, Command]]:
        """The commands after position ``after``, each with its position (the page cursor)."""
        ...

    async def recent(self, organization: str, session_id: str, since: datetime) -> RecentCommands:
        """The session's commands created after ``since``, and since the candidate's last utterance."""
        ...


class VoiceRounds(Protocol):
    async def get(self, organization: str, session_id: str, round_number: int) -> VoiceRound | None: ...

    async def live(self, organization: str, session_id: str) -> VoiceRound | None: ...

    async def last_number(self, organization: str, session_id: str) -> int:
        """The highest round number of the session; 0 before its first round."""
        ...

    async def add(self, organization: str, voice_round: VoiceRound) -> None: ...

    async def end_live(self, organization: str, session_id: str, when: datetime,
                       reason: RoundEndReason) -> VoiceRound | None: ...

    async def list(self, organization: str, session_id: str, after: int, limit: int) -> list[VoiceRound]: ...


@dataclass(frozen=True, slots=True)
class CallAtHandoff:
    """What a handoff reads of its session before packing it."""

    session: Session
    pending: str | None  # the id of the session's handoff waiting for the gateway, if any
    last_turns: list[Message]  # in call order
    unacknowledged: list[Command]  # the commands the gateway is (again) sent, in order
    live: VoiceRound | None


@dataclass(frozen=True, slots=True)
class CallUnderLock:
    """What a handoff reads of its session as it locks the session's row, in one statement."""

    session: Session
    pending: str | None  # the id of the session's handoff waiting for the gateway or for its approval, if any
    live_round: int  # the number of its live voice round, 0 if none
    handoff_exists: bool  # whether the session has a handoff of the id asked about
    recent: RecentCommands  # its commands, as a command's pre-flight check counts them


class Handoffs(Protocol):
    async def add(self, organization: str, handoff: Handoff) -> None:
        """Stores the handoff now; the command carrying it, if any, is the caller's to store."""
        ...

    async def add_last(self, organization: str, handoff: Handoff, carried_by: Command) -> None:
        """Stores the handoff and the command carrying it with the transaction's last writes (at its commit); the
        caller holds the session's row locked and knows it has no handoff of that id."""
        ...

    async def under_lock(self, organization: str, session_id: str, handoff_id: str,
                         since: datetime) -> CallUnderLock | None:
        """Locks the session's row (FOR UPDATE) and reads, in the same statement, what a handoff checks under the
        lock: the session, its pending handoff, its live round, whether ``handoff_id`` exists, and its commands
        as the pre-flight check counts them from ``since``. None when there is no such session."""
        ...

    async def get(self, organization: str, session_id: str, handoff_id: str) -> Handoff | None: ...

    async def list(self, organization: str, session_id: str) -> list[Handoff]:
        """Oldest first."""
        ...

    async def call_at_handoff(self, organization: str, session_id: str, turns: int) -> CallAtHandoff | None:
        """The session with its last ``turns`` messages, in one read; None when there is no such session."""
        ...

    async def pending_and_live_round(self, organization: str, session_id: str) -> tuple[str | None, int]:
        """The id of the session's handoff waiting for the gateway or for its approval (None if none) and the number
        of its live voice round (0 if none), in one read."""
        ...

    async def held_by(self, organization: str, session_id: str, command_id: str) -> Handoff | None:
        """The handoff awaiting the approval of its command ``command_id``, if any."""
        ...

    async def fail_held(self, organization: str, session_id: str, command_id: str, reason: str,
                        when: datetime) -> None:
        """The handoff awaiting the approval of its command ``command_id``, if any, failed for ``reason``."""
        ...

    async def settle(self, organization: str, handoff: Handoff) -> None:
        """Stores the state, packet and time of a handoff that was held for approval, and the copy of it its
        command carries."""
        ...

    async def accept(self, organization: str, session_id: str, command_id: str, when: datetime) -> None:
        """The pending handoff carried by ``command_id`` (if any) is accepted from the session's next message on,
        the one accepted before it completed."""
        ...

    async def close(self, organization: str, session_id: str, when: datetime) -> None:
        """The session ended: a pending handoff failed, an accepted one is completed."""
        ...


class Approvals(Protocol):
    async def add(self, organization: str, approval: Approval) -> None: ...

    async def get(self, organization: str, session_id: str, approval_id: str, *,
                  for_update: bool = False) -> Approval | None: ...

    async def list(self, organization: str, session_id: str | None, queue: str | None, state: str | None,
                   after: tuple[datetime, str, str] | None, limit: int) -> list[tuple[str, Approval]]:
        """A session's approvals or a queue's, each with its persona, after the cursor ``after``."""
        ...

    async def due(self, now: datetime, limit: int) -> builtins.list[tuple[str, str, Approval]]:
        """Pending approvals past ``now``, locked, with their organization and persona; at most ``limit``."""
        ...

    async def escalate(self, organization: str, approval: Approval) -> None: ...

    async def decide(self, organization: str, approval: Approval, command_state: CommandState) -> None: ...

    async def refuse_pending(self, organization: str, session_id: str, when: datetime,
                             reason: str) -> builtins.list[Approval]:
        """Refuses the session's approvals still pending, and their commands; those refused."""
        ...


@dataclass(frozen=True, slots=True)
class CheckFilters:
    """A listing's checks: of one session or of one persona's sessions, of a kind and decision when set."""

    organization: str
    session_id: str | None = None
    persona: str | None = None
    kind: CheckKind | None = None
    decision: CheckDecision | None = None


class GuardrailChecks(Protocol):
    async def add(self, *checks: GuardrailCheck) -> None: ...

    async def add_risk(self, scope: CheckScope, points: int) -> bool:
        """Adds ``points`` to the session's risk (alerting once it reaches the scope's alert score); whether its
        score changed, and so was queued for its watchers."""
        ...

    async def list(self, filters: CheckFilters, after: tuple[datetime, int] | None,
                   limit: int) -> builtins.list[GuardrailCheck]: ...


class Outbox(Protocol):
    async def enqueue(self, organization: str, session_id: str, kind: str, up_to_sequence: int) -> None: ...


class Announcements(Protocol):
    """What the replicas hear once the transaction commits."""

    async def session_ended(self, organization: str, session_id: str) -> None: ...

    async def command_sent(self, organization: str, session_id: str, command_id: str) -> None: ...

    async def approval_changed(self, organization: str, session_id: str, approval_id: str) -> None: ...

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
    def handoffs(self) -> Handoffs: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def voice_rounds(self) -> VoiceRounds: ...

    @property
    def approvals(self) -> Approvals: ...

    @property
    def guardrail_checks(self) -> GuardrailChecks: ...

    def requests(self, organization: str) -> RequestRecords:
        """The request ids of ``organization``."""
        ...

    @property
    def announce(self) -> Announcements: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None: ...

    async def commit(self) -> None: ...


class CommandSlot(Protocol):
    """A place kept for a command on a live stream of this replica, before the command's transaction commits."""

    def hand(self, command: Command) -> None:
        """The transaction committed: ``command`` goes to the stream (unless it has stopped meanwhile: a stream
        opened later has it among the commands not yet acknowledged)."""
        ...

    def cancel(self) -> None:
        """The command was not sent (rolled back, held for an approval, a retry's answer): the place is freed."""
        ...


class StreamsHere(Protocol):
    """The live streams this replica holds: a command committed here goes to its session's stream at once, not
    after its NOTIFY has come back and a statement has marked it delivered."""

    def reserve(self, organization: str, session_id: str, command_id: str) -> CommandSlot | None:
        """A place for the command on the session's live stream here, taken before its transaction commits, so its
        NOTIFY, however soon it comes back, finds it sent; None when no stream here is open for the session (or it
        has the command already). The NOTIFY path serves it then."""
        ...


class Personas(Protocol):
    async def require_usable(self, name: str) -> object:
        """Returns if the persona exists and is not deleted; raises NotFound, FailedPrecondition or Unavailable."""
        ...


class PersonaOwners(Protocol):
    async def owners(self, name: str, organization: str) -> frozenset[str]:
        """Who owns the persona; raises Unavailable when the persona service does not answer."""
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
@dataclass(frozen=True)
class PersonaAvailability:
    display_name: str
    refusal: str  # why the persona cannot take a call ("is deleted"); '' when it can


@dataclass(frozen=True)
class RenderedPrompt:
    system_prompt: str
    first_message: str


@dataclass(frozen=True)
class RecalledMemory:
    scratchpad: dict[str, str]
    active_goals: tuple[str, ...]
    commitments: tuple[tuple[str, str], ...]  # (text, fact name) of each commitment still valid


class HandoffPersonas(Protocol):
    """What a handoff asks the persona service; failures raise Unavailable."""

    async def availability(self, name: str) -> PersonaAvailability: ...

    async def render(self, persona: str, scenario: str, candidate: str, session: str) -> RenderedPrompt: ...

    async def recall(self, persona: str, candidate: str) -> RecalledMemory: ...


class UtteranceCommitter(Protocol):
    async def submit(self, organization: str, session_id: str, utterance: Utterance, epoch: int,
                     checks: tuple[GuardrailCheck, ...] = (), alert_score: int = 0) -> asyncio.Future[Outcome]:
        """Queues an utterance of the stream ``epoch`` (waiting while the queue is full) and the guardrail checks
        made of it, logged (their risk added to the session, which alerts from ``alert_score``) only if it is
        stored; the future gives its ``Outcome`` once committed, or the error that kept it from being committed."""
        ...
