"""Use cases of voice agents: provisioning a persona at a provider once per cache key, and reading agents back."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from prometheus_client import Counter

from persona_svc.domain.live_control import LiveControl
from persona_svc.domain.voice_agents import AgentSpec, ProvisionedAgent, VoiceAgent
from persona_svc.service_layer.catalogue import Catalogue
from persona_svc.service_layer.voice_ports import VoiceProvider, VoiceUnitOfWorkFactory
from svckit.errors import Aborted, DomainError, FailedPrecondition, FieldViolation, InvalidArgument, NotFound

# A start whose agent was retired by clean-up between reading and using it, or that the provider no longer has,
# takes up a new one; failing so three times in a row means agents vanish as fast as they are made.
USE_TRIES = 3
LOST_AGENTS = Counter("sparring_persona_voice_agents_lost_total",
                      "Voice agents their provider no longer had at a start, made again.", ("provider",))
UNRECORDED_AGENTS = Counter(
    "sparring_persona_voice_agents_unrecorded_total",
    "Voice agents created at their provider whose row could not be stored, by what became of them: deleted at the "
    "provider at once, queued for clean-up's deletion, or left (neither worked; logged with the provider's id).",
    ("provider", "outcome"))
log = logging.getLogger("persona.voice_agents")


class VoiceAgents:
    def __init__(self, catalogue: Catalogue, writes: VoiceUnitOfWorkFactory, reads: VoiceUnitOfWorkFactory,
                 providers: Mapping[str, VoiceProvider], default_provider: str) -> None:
        self._catalogue = catalogue
        self._transaction = writes
        self._read = reads
        self._providers = providers
        self._default_provider = default_provider

    def _provider(self, name: str) -> VoiceProvider:
        provider = self._providers.get(name or self._default_provider)
        if provider is None:
            raise InvalidArgument(FieldViolation(
                "provider", f"must be one of {', '.join(sorted(self._providers))}, or empty for the default "
                            f"(got {name[:100]!r})"), reason="UNKNOWN_PROVIDER")
        return provider

    async def provision(self, organization: str, persona_id: str, scenario_id: str, provider_name: str,
                        session: str) -> ProvisionedAgent:
        """The agent of this persona and scenario at the provider, reused when nothing it is made of changed, and
        recorded as used by ``session``. Every refusal comes before anything is created at the provider or
        stored."""
        provider = self._provider(provider_name)
        persona = await self._catalogue.get_persona(organization, persona_id)
        if persona.deleted:
            raise FailedPrecondition(f"{persona.resource_name} is deleted", reason="PERSONA_DELETED",
                                     metadata={"resource": persona.resource_name})
        if not persona.fields.config.voice_enabled:
            raise FailedPrecondition(f"{persona.resource_name} has no voice (config.voice_enabled is false)",
                                     reason="VOICE_DISABLED", metadata={"resource": persona.resource_name,
                                                                        "field": "persona.config.voice_enabled"})
        provider.check_configured()
        scenario = await self._catalogue.get_scenario(organization, scenario_id) if scenario_id else None
        rendered = await self._catalogue.render_prompt(organization, persona_id, scenario_id,
                                                       session.removeprefix("sessions/"))
        spec = AgentSpec(
            provider=provider.name, persona_id=persona_id, persona_revision=rendered.persona_revision,
            scenario_id=scenario_id, scenario_revision=scenario.revision if scenario else 0,
            patches=tuple(patch.name for patch in rendered.applied_patches), system_prompt=rendered.system_prompt,
            first_message=rendered.first_message, voice=persona.fields.config.voice.with_defaults(),
            experiment_variant=f"{rendered.experiment}/{rendered.experiment_variant}" if rendered.experiment else "")
        key = spec.cache_key
        for _ in range(USE_TRIES):
            async with self._read(organization) as uow:
                agent = await uow.voice_agents.by_key(provider.name, key)
            reused = agent is not None
            if agent is None:
                agent, reused = await self._create_once(organization, spec, key, provider)
            if not await self._record_use(organization, agent, session):
                continue
            connection = await provider.connect(agent.provider_agent_id)
            if connection is not None:
                return ProvisionedAgent(agent, reused, connection)
            await self._forget(organization, agent)
        raise Aborted(f"the voice agent of {persona.resource_name} vanished while this start took it up; retry",
                      reason="VOICE_AGENT_RETIRED", metadata={"resource": persona.resource_name})

    async def _forget(self, organization: str, agent: VoiceAgent) -> None:
        """Drops an agent its provider lost (deleted outside this service), so the next try makes a new one."""
        async with self._transaction(organization) as uow:
            await uow.voice_agents.lock_key(agent.spec.provider, agent.cache_key)
            await uow.voice_agents.remove(agent.id)
            await uow.commit()
        LOST_AGENTS.labels(agent.spec.provider).inc()

    async def _record_use(self, organization: str, agent: VoiceAgent, session: str) -> bool:
        """Records the session's use of the agent, which keeps clean-up from retiring it; False when clean-up
        retired it after it was read (the start then takes up a new one)."""
        async with self._transaction(organization) as uow:
            used = await uow.voice_agents.record_use(agent.id, session, datetime.now(UTC))
            await uow.commit()
        return used

    async def _create_once(self, organization: str, spec: AgentSpec, key: str,
                           provider: VoiceProvider) -> tuple[VoiceAgent, bool]:
        """Creates the agent of ``key`` unless a concurrent start (on any replica) did while this one waited for
        the key's lock; returns it and whether it was there already."""
        async with self._transaction(organization) as uow:
            await uow.voice_agents.lock_key(provider.name, key)
            existing = await uow.voice_agents.by_key(provider.name, key)
            if existing is not None:
                return existing, True
            agent = VoiceAgent(id=str(uuid.uuid4()), organization=organization, spec=spec, cache_key=key,
                               provider_agent_id=await provider.create_agent(spec), create_time=datetime.now(UTC))
            try:
                await uow.voice_agents.add(agent)
                await uow.commit()
            except Exception:  # nothing records the agent made at the provider: it must not be left there
                await self._undo_create(organization, provider, agent.provider_agent_id)
                raise
        return agent, False

    async def _undo_create(self, organization: str, provider: VoiceProvider, provider_agent_id: str) -> None:
        """Deletes at the provider an agent whose row could not be stored, or else queues its deletion for
        clean-up; the start fails either way."""
        try:
            await provider.delete_agent(provider_agent_id)
            outcome = "deleted"
        except DomainError:
            try:
                async with self._transaction(organization) as uow:
                    await uow.voice_agents.queue_deletion(provider.name, provider_agent_id)
                    await uow.commit()
                outcome = "queued"
            except Exception as error:  # the database failed the row already; the start's own error is raised
                log.error("voice agent %s at %s is recorded nowhere and left there: %r", provider_agent_id,
                          provider.name, error)
                outcome = "left"
        UNRECORDED_AGENTS.labels(provider.name, outcome).inc()

    def live_controls(self, agent: VoiceAgent) -> tuple[LiveControl, ...]:
        """What each interviewer command becomes at the agent's provider (none for a provider no longer served)."""
        provider = self._providers.get(agent.spec.provider)
        return provider.live_controls if provider is not None else ()

    async def get(self, organization: str, agent_id: str) -> VoiceAgent:
        async with self._read(organization) as uow:
            agent = await uow.voice_agents.get(agent_id)
        if agent is None:
            raise NotFound(f"voiceAgents/{agent_id}", reason="VOICE_AGENT_NOT_FOUND")
        return agent
