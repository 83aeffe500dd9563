"""Voice providers behind the VoiceProvider port, and the metric every provider request is counted in."""

from __future__ import annotations

from prometheus_client import Counter

from persona_svc.domain import live_control
from persona_svc.domain.voice_agents import AgentSpec, Connection

PROVIDER_REQUESTS = Counter(
    "sparring_persona_voice_provider_requests_total",
    "Requests made to voice providers (agents created, conversations signed...), by provider, operation and outcome.",
    ("provider", "operation", "outcome"),
)


class LocalVoiceProvider:
    """No outside call: the agent is its stored configuration, which a self-hosted gateway reads with
    GetVoiceAgent. Its id is derived from the cache key, so it says which configuration it is."""

    name = "local"
    live_controls = live_control.LOCAL

    def check_configured(self) -> None:
        """Nothing to configure."""

    async def create_agent(self, spec: AgentSpec) -> str:
        PROVIDER_REQUESTS.labels(self.name, "create_agent", "ok").inc()
        return f"local-{spec.cache_key[:32]}"

    async def connect(self, provider_agent_id: str) -> Connection | None:
        return Connection()

    async def delete_agent(self, provider_agent_id: str) -> bool:
        PROVIDER_REQUESTS.labels(self.name, "delete_agent", "ok").inc()
        return True
