"""What the curveballs of a session draw on: the objection patterns of the persona playing it and its scenario's
facts, as the persona service holds them, kept in a bounded cache by persona and scenario (the sessions of one
persona in one scenario share them) for at most ``max_age_seconds``, so a persona or scenario edited reaches new
readings within that. A reading's window names the persona and the scenario (the transcript service sends them with
it), so a session's first reading asks the persona service only when no session of the same persona and scenario
was read lately, and never reads the session back. When the persona service cannot be read, a reading goes on
with the track's own curveballs (counted), and the next reading asks again."""

from __future__ import annotations

import asyncio

from prometheus_client import Counter
from sparring.persona.v1 import persona_service_pb2 as persona_pb

from analysis_svc.adapters.transcript_reader import TranscriptReader
from analysis_svc.domain.model import Window
from analysis_svc.domain.suggestions import NO_CONTEXT, CallContext
from service_clients.persona import PersonaClient
from svckit.cache import InvalidatedCache
from svckit.errors import Unavailable
from svckit.transport import ServiceLink

CALL_CONTEXT_LOOKUPS = Counter("sparring_analysis_call_context_lookups_total",
                               "Reads of a session's persona and scenario for its curveballs, by whether the cache "
                               "held them (hit), the services were asked (miss) or could not be read (unavailable).",
                               ("result",))
CONTEXT_MAX_AGE_SECONDS = 60.0


class CallContexts:
    def __init__(self, transcripts: TranscriptReader, link: ServiceLink, timeout_seconds: float,
                 max_entries: int, max_age_seconds: float = CONTEXT_MAX_AGE_SECONDS) -> None:
        self._transcripts = transcripts
        self._personas = PersonaClient(link, timeout_seconds)
        # Nothing here hears of an edit in the persona service: entries are read again once they are this old.
        self._contexts: InvalidatedCache[tuple[str, str, str], CallContext] = InvalidatedCache(
            "call_contexts", max_entries, max_age_seconds)
        self._contexts.enable()

    async def context(self, organization: str, session_id: str, window: Window | None = None) -> CallContext:
        """The context of the persona and the scenario ``window`` names, or the session's when it names no
        scenario (a window read before the transcript service sent them, or none)."""
        try:
            persona, scenario = await self._cast(organization, session_id, window)
            key = (organization, persona, scenario)
            cached = self._contexts.get(key)
            if cached is not None:
                CALL_CONTEXT_LOOKUPS.labels("hit").inc()
                return cached
            generation = self._contexts.generation
            context = await self._read(organization, persona, scenario)
        except Unavailable:
            CALL_CONTEXT_LOOKUPS.labels("unavailable").inc()
            return NO_CONTEXT
        CALL_CONTEXT_LOOKUPS.labels("miss").inc()
        self._contexts.put(key, context, generation)
        return context

    async def _cast(self, organization: str, session_id: str, window: Window | None) -> tuple[str, str]:
        """The persona playing the session and its scenario."""
        if window is not None and window.scenario is not None:
            return window.persona, window.scenario
        session = await self._transcripts.session(organization, session_id)
        return session.current_persona or session.persona, session.scenario

    async def _read(self, organization: str, persona_name: str, scenario_name: str) -> CallContext:
        persona, scenario = await asyncio.gather(self._persona(organization, persona_name),
                                                 self._scenario(organization, scenario_name))
        return CallContext(
            objection_patterns=tuple(persona.objection_patterns), pain_points=tuple(scenario.pain_points),
            budget_range=scenario.budget_range, decision_timeline=scenario.decision_timeline)

    async def _persona(self, organization: str, name: str) -> persona_pb.Persona:
        """The persona; an empty one when none is named or the persona service no longer has it."""
        return (await self._personas.persona(name, organization) if name else None) or persona_pb.Persona()

    async def _scenario(self, organization: str, name: str) -> persona_pb.Scenario:
        """The scenario; an empty one when none is named or the persona service no longer has it."""
        return (await self._personas.scenario(name, organization) if name else None) or persona_pb.Scenario()

    async def close(self) -> None:
        await self._personas.close()
