"""What the voice-agent use cases need from the world: the providers, and the agents stored per organization."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from persona_svc.domain.live_control import LiveControl
from persona_svc.domain.voice_agents import AgentSpec, AgentUse, Connection, Deletion, VoiceAgent


class VoiceProvider(Protocol):
    """One voice platform. Its failures are domain errors: FailedPrecondition when it is not configured,
    Unavailable naming it when it does not answer."""

    @property
    def name(self) -> str: ...

    @property
    def live_controls(self) -> tuple[LiveControl, ...]:
        """What each interviewer command becomes at this provider."""
        ...

    def check_configured(self) -> None:
        """Raises FailedPrecondition naming the missing setting; called before anything is created."""
        ...

    async def create_agent(self, spec: AgentSpec) -> str:
        """Creates the agent at the provider; returns the provider's id of it."""
        ...

    async def connect(self, provider_agent_id: str) -> Connection | None:
        """Where a gateway joins a new conversation with the agent; None when the provider no longer has it."""
        ...

    async def delete_agent(self, provider_agent_id: str) -> bool:
        """Deletes the agent at the provider; False when the provider no longer had it (not an error)."""
        ...


class VoiceAgentRepository(Protocol):
    async def get(self, agent_id: str) -> VoiceAgent | None: ...

    async def by_key(self, provider: str, cache_key: str) -> VoiceAgent | None: ...

    async def lock_key(self, provider: str, cache_key: str) -> None:
        """Holds, until the transaction ends, the one lock of this key across every replica."""
        ...

    async def add(self, agent: VoiceAgent) -> None: ...

    async def remove(self, agent_id: str) -> None:
        """Removes the agent and its uses."""
        ...

    async def queue_deletion(self, provider: str, provider_agent_id: str) -> None:
        """Queues the deletion at the provider of an agent no row records, for clean-up's next sweep."""
        ...

    async def record_use(self, agent_id: str, session: str, when: datetime) -> bool:
        """Records that ``session`` uses the agent, holding the agent's row against clean-up until the transaction
        ends; False when the agent is no longer there (clean-up retired it)."""
        ...


class VoiceAgentUnitOfWork(Protocol):
    @property
    def voice_agents(self) -> VoiceAgentRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None: ...

    async def commit(self) -> None: ...


# A new unit of work for each use, confined to the organization it is given.
VoiceUnitOfWorkFactory = Callable[[str], VoiceAgentUnitOfWork]


class CleanupStore(Protocol):
    """What clean-up reads and changes, across every organization."""

    async def open_uses(self, limit: int) -> list[AgentUse]:
        """Open uses, those checked least recently first."""
        ...

    async def checked_use(self, use: AgentUse, end_time: datetime | None) -> None:
        """Records that the use was checked, and closes it at ``end_time`` when the session has ended."""
        ...

    async def idle_agents(self, idle_since: datetime, limit: int) -> list[VoiceAgent]:
        """Agents made before ``idle_since`` whose every use ended before it."""
        ...

    async def retire(self, agent: VoiceAgent, idle_since: datetime) -> bool:
        """In one transaction under the agent's key lock: if it is still idle, removes it (a new start makes a new
        one) and queues its deletion at the provider. False when a start took it up meanwhile."""
        ...

    async def due_deletions(self, now: datetime, limit: int) -> list[Deletion]: ...

    async def deletion_done(self, deletion: Deletion) -> None: ...

    async def deletion_failed(self, deletion: Deletion, error: str, retry_at: datetime | None) -> None:
        """Tried again at ``retry_at``; None: given up."""
        ...

    async def prune_done(self, done_before: datetime, limit: int) -> int:
        """Removes at most ``limit`` deletions done before ``done_before``, oldest first; returns how many."""
        ...


class SessionStates(Protocol):
    async def ended_at(self, organization: str, session: str) -> datetime | None:
        """When the session ended; None while it is live. Raises Unavailable when it cannot be told."""
        ...


class SweepLock(Protocol):
    def held(self) -> AbstractAsyncContextManager[bool]:
        """Holds the clean-up lock across replicas for the block if no other replica holds it; yields whether."""
        ...
