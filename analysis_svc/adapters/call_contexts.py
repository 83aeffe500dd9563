"""What the curveballs of a session draw on: its persona's objection patterns and its scenario, as the persona
service holds them when the session is first read, kept in a bounded cache (a live call keeps its persona and
scenario). When the persona service cannot be read, a reading goes on with the track's own curveballs (counted),
and the session is asked for again at its next reading."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from prometheus_client import Counter
from sparring.persona.v1 import persona_service_pb2 as persona_pb

from analysis_svc.adapters.transcript_reader import TranscriptReader
from analysis_svc.domain.suggestions import NO_CONTEXT, CallContext
from service_clients.persona import PersonaClient
from svckit.errors import Unavailable
from svckit.transport import ServiceLink

CALL_CONTEXT_LOOKUPS = Counter("sparring_analysis_call_context_lookups_total",
                               "Reads of a session's persona and scenario for its curveballs, by whether the cache "
                               "held them (hit), the services were asked (miss) or could not be read (unavailable).",
                               ("result",))


class CallContexts:
    def __init__(self, transcripts: TranscriptReader, link: ServiceLink, timeout_seconds: float,
                 max_sessions: int) -> None:
        self._transcripts = transcripts
        self._personas = PersonaClient(link, timeout_seconds)
        self._max = max_sessions
        self._contexts: OrderedDict[tuple[str, str], CallContext] = OrderedDict()

    async def context(self, organization: str, session_id: str) -> CallContext:
        key = (organization, session_id)
        if key in self._contexts:
            CALL_CONTEXT_LOOKUPS.labels("hit").inc()
            self._contexts.move_to_end(key)
            return self._contexts[key]
        try:
            context = await self._read(organization, session_id)
        except Unavailable:
            CALL_CONTEXT_LOOKUPS.labels("unavailable").inc()
            return NO_CONTEXT
        CALL_CONTEXT_LOOKUPS.labels("miss").inc()
        self._contexts[key] = context
        if len(self._contexts) > self._max:
            self._contexts.popitem(last=False)
        return context

    async def _read(self, organization: str, session_id: str) -> CallContext:
        session = await self._transcripts.session(organization, session_id)
        persona, scenario = await asyncio.gather(self._personas.persona(session.persona, organization),
                                                 self._scenario(organization, session.scenario))
        return CallContext(
            objection_patterns=tuple(persona.objection_patterns) if persona is not None else (),
            pain_points=tuple(scenario.pain_points), budget_range=scenario.budget_range,
            decision_timeline=scenario.decision_timeline)

    async def _scenario(self, organization: str, name: str) -> persona_pb.Scenario:
        """The session's scenario; an empty one when it names none or one the persona service no longer has."""
        if not name:
            return persona_pb.Scenario()
        reply = await self._personas.find(self._personas.stub.GetScenario, persona_pb.GetScenarioRequest(name=name),
                                          organization)
        return reply.scenario if reply is not None else persona_pb.Scenario()

    async def close(self) -> None:
        await self._personas.close()
