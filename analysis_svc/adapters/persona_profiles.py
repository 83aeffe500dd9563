"""The persona as the auditor needs it, from the persona service."""

from __future__ import annotations

from analysis_svc.domain.model import AuditedPersona
from calls.persona_audit import PersonaProfile
from calls.scenario_facts import ScenarioFacts
from service_clients.persona import PersonaClient
from svckit.errors import FailedPrecondition
from svckit.transport import ServiceLink


class PersonaProfiles:
    def __init__(self, link: ServiceLink, timeout_seconds: float) -> None:
        self._client = PersonaClient(link, timeout_seconds)

    async def persona(self, name: str, scenario: str = "") -> AuditedPersona:
        persona = await self._client.persona(name)
        if persona is None:
            raise FailedPrecondition(f"the session's persona {name} cannot be read: it does not exist",
                                     reason="PERSONA_NOT_FOUND")
        # A scenario deleted since the call leaves the audit without its facts rather than without an audit.
        facts = await self._client.scenario(scenario) if scenario else None
        profile = PersonaProfile(
            archetype=persona.archetype.removeprefix("archetypes/"),
            difficulty=persona.difficulty,
            personality_traits=tuple(persona.personality_traits),
            traits={t.name: t.value for t in persona.traits},
            objection_patterns=tuple(persona.objection_patterns),
            scenario=ScenarioFacts(facts.budget_range, facts.decision_timeline, facts.company_size, facts.industry)
            if facts is not None else ScenarioFacts(),
        )
        return AuditedPersona(persona.name, persona.display_name, profile)
