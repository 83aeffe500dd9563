"""What the voice-agent use cases need from the world: the providers, and the agents stored per organization."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from persona_svc.domain.voice_agents import AgentSpec, Connection, VoiceAgent


class VoiceProvider(Protocol):
    """One voice platform. Its failures are domain errors: FailedPrecondition when it is not configured,
    Unavailable naming it when it does not answer."""

    @property
    def name(self) -> str: ...

    def check_configured(self) -> None:
        """Raises FailedPrecondition naming the missing setting; called before anything is created."""
        ...

    async def create_agent(self, spec: AgentSpec) -> str:
        """Creates the agent at the provider; returns the provider's id of it."""
        ...

    async def connect(self, provider_agent_id: str) -> Connection:
        """Where a gateway joins a new conversation with the agent."""
        ...


class VoiceAgentRepository(Protocol):
    async def get(self, agent_id: str) -> VoiceAgent | None: ...

    async def by_key(self, provider: str, cache_key: str) -> VoiceAgent | None: ...

    async def lock_key(self, provider: str, cache_key: str) -> None:
        """Holds, until the transaction ends, the one lock of this key across every replica."""
        ...

    async def add(self, agent: VoiceAgent) -> None: ...


class VoiceAgentUnitOfWork(Protocol):
    @property
    def voice_agents(self) -> VoiceAgentRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None: ...

    async def commit(self) -> None: ...


# A new unit of work for each use, confined to the organization it is given.
VoiceUnitOfWorkFactory = Callable[[str], VoiceAgentUnitOfWork]
