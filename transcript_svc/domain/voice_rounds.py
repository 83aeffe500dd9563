"""Voice rounds: the voice conversations of a session, each with the persona's agent at a provider."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class AgentGrant:
    """What the persona service answers for a round: the agent, and how a gateway connects to it."""

    provider: str
    voice_agent: str
    provider_agent_id: str
    signed_url: str
    access_token: str
    reused: bool


class RoundEndReason(StrEnum):
    ENDED = "ended"  # EndVoiceRound
    SESSION_ENDED = "session_ended"
    HANDOFF = "handoff"  # the call moved to another persona's agent, in the next round


@dataclass(frozen=True, slots=True)
class VoiceRound:
    session_id: str
    round_number: int
    provider: str
    voice_agent: str
    provider_agent_id: str
    signed_url: str
    access_token: str
    agent_reused: bool
    start_time: datetime
    end_time: datetime | None = None
    persona: str = ""  # "personas/{id}" whose agent speaks in the round
    end_reason: RoundEndReason | None = None  # None while live (and for rounds ended before reasons were kept)
    handoff: str = ""  # "sessions/{id}/handoffs/{id}" that opened the round; "" for StartVoiceRound

    @property
    def resource_name(self) -> str:
        return f"sessions/{self.session_id}/voiceRounds/{self.round_number}"

    @property
    def live(self) -> bool:
        return self.end_time is None
