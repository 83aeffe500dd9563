"""Voice agents: what a persona in a scenario becomes at a voice provider, and the key that says when one can be
reused."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from persona_svc.domain.model import VoiceSettings
from svckit import records


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """Everything a voice agent is made of; two starts with equal specs can share one agent. Its voice has every
    setting explicit (``VoiceSettings.with_defaults``)."""

    provider: str
    persona_id: str
    persona_revision: int
    scenario_id: str
    scenario_revision: int
    patches: tuple[str, ...]
    system_prompt: str
    first_message: str
    voice: VoiceSettings
    # "experiments/{id}/{variant_id}" of the session's variant; "" for none. A variant gets its own agent.
    experiment_variant: str = ""

    @property
    def cache_key(self) -> str:
        """Hex SHA-256 of the whole spec: any change to what the agent is made of gives another key."""
        document = {**records.to_record(self), "patches": sorted(self.patches)}
        if not self.experiment_variant:  # the keys of agents made before variants existed stay the same
            del document["experiment_variant"]
        return hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class VoiceAgent:
    id: str
    organization: str
    spec: AgentSpec
    cache_key: str
    provider_agent_id: str
    create_time: datetime

    @property
    def resource_name(self) -> str:
        return f"voiceAgents/{self.id}"


@dataclass(frozen=True, slots=True)
class Connection:
    """Where a gateway joins one conversation with an agent: a signed URL, or an access token to join with; empty
    for providers with neither."""

    signed_url: str = ""
    access_token: str = ""


@dataclass(frozen=True, slots=True)
class ProvisionedAgent:
    agent: VoiceAgent
    reused: bool
    connection: Connection


@dataclass(frozen=True, slots=True)
class AgentUse:
    """A session that started a round with an agent; open until the session is seen to have ended."""

    organization: str
    agent_id: str
    session: str


@dataclass(frozen=True, slots=True)
class Deletion:
    """An agent retired by clean-up, still to be deleted at its provider."""

    id: int
    organization: str
    provider: str
    provider_agent_id: str
    attempts: int
