"""RenderPrompt naming a session and no candidate remembers the candidate the session names at the transcript
service; when that service cannot tell, the prompt is rendered without memory, and that is counted. Naming the
session and no persona renders the persona playing it now (after a handoff, the new one), for its candidate and
scenario; when the transcript service cannot tell that persona, the rendering is refused, counted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest_asyncio
from sparring.persona.v1 import memory_service_pb2 as mb
from sparring.persona.v1 import memory_service_pb2_grpc, persona_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from persona_svc.app import ERROR_DOMAIN, build
from persona_svc.config import PersonaSettings
from tests.builders import uid
from tests.e2e.status_details import rejected_in, retry_delay_of
from tests.e2e.test_handoff import cfo, started  # noqa: F401 (a fixture)
from tests.e2e.test_memory_erasure import erasing_persona  # noqa: F401 (a fixture)
from tests.e2e.test_persona_memory import update
from tests.e2e.transcript_fixtures import new_session
from tests.probes import free_port, metric
from tests.security import OTHER_ORGANIZATION, token

PERSONA = "personas/sarah-chen"
SCENARIO = "scenarios/q2-cost-reduction"


async def test_a_session_alone_renders_the_memory_of_the_candidate_it_names(
        erasing_persona, connect, transcripts):  # noqa: F811
    personas = persona_service_pb2_grpc.PersonaServiceStub(connect(erasing_persona, token("interviewer")))
    memories = memory_service_pb2_grpc.MemoryServiceStub(connect(erasing_persona, token("interviewer")))
    candidate = uid()
    session = await new_session(transcripts, candidate=f"candidates/{candidate}")
    await update(memories, f"{PERSONA}/candidates/{candidate}/workingMemory", "task_context",
                 task_context="round 2: ask for the questionnaire")

    by_session = await personas.RenderPrompt(pb.RenderPromptRequest(persona=PERSONA, session=session.name))
    assert by_session.memory_source == mb.MEMORY_SOURCE_LIVE
    assert [m.text for m in by_session.applied_memory] == ["- Current task: round 2: ask for the questionnaire"]
    named = await personas.RenderPrompt(pb.RenderPromptRequest(persona=PERSONA, session=session.name,
                                                               candidate=f"candidates/{candidate}"))
    assert by_session == named

    nobody = await new_session(transcripts)
    plain = await personas.RenderPrompt(pb.RenderPromptRequest(persona=PERSONA, session=nobody.name))
    assert plain.memory_source == mb.MEMORY_SOURCE_NOT_REQUESTED and not plain.applied_memory


@pytest_asyncio.fixture
async def persona_without_transcripts(database_url, engine, persona_schema) -> AsyncIterator[str]:
    """A persona server whose transcript service does not answer (nothing listens at its address)."""
    app = await build(PersonaSettings(database_url=database_url, grpc_port=0, metrics_port=0, memory_timeout_seconds=5,
                                      transcript_address=f"127.0.0.1:{free_port()}"), engine)
    await app.start()
    yield app.address
    await app.stop(grace=1)


async def test_a_session_whose_candidate_cannot_be_read_renders_without_memory_and_is_counted(
        persona_without_transcripts, connect):
    personas = persona_service_pb2_grpc.PersonaServiceStub(connect(persona_without_transcripts, token("interviewer")))
    before = metric("sparring_memory_render_fallbacks_total", reason="session_unavailable")
    rendered = await personas.RenderPrompt(pb.RenderPromptRequest(persona=PERSONA, session=f"sessions/{uid()}"))
    assert rendered.memory_source == mb.MEMORY_SOURCE_UNAVAILABLE and not rendered.applied_memory
    assert metric("sparring_memory_render_fallbacks_total", reason="session_unavailable") == before + 1


async def test_a_session_alone_renders_the_persona_playing_it_before_and_after_a_handoff(
        erasing_persona, connect, transcripts, handoffs, cfo):  # noqa: F811
    personas = persona_service_pb2_grpc.PersonaServiceStub(connect(erasing_persona, token("interviewer")))
    memories = memory_service_pb2_grpc.MemoryServiceStub(connect(erasing_persona, token("interviewer")))
    candidate = f"candidates/{uid()}"
    session = await new_session(transcripts, candidate=candidate, scenario=SCENARIO)
    await update(memories, f"{cfo.name}/{candidate}/workingMemory", "task_context",
                 task_context="take the budget questions")

    def named(persona: str) -> pb.RenderPromptRequest:
        return pb.RenderPromptRequest(persona=persona, session=session.name, candidate=candidate, scenario=SCENARIO)

    before = await personas.RenderPrompt(pb.RenderPromptRequest(session=session.name))
    assert before.persona == PERSONA
    assert before == await personas.RenderPrompt(named(PERSONA))

    await started(handoffs, session.name, cfo.name)
    after = await personas.RenderPrompt(pb.RenderPromptRequest(session=session.name))
    assert after.persona == cfo.name
    assert after == await personas.RenderPrompt(named(cfo.name))
    assert [m.text for m in after.applied_memory] == ["- Current task: take the budget questions"]
    # A persona named with the session is the one rendered, whoever plays the session.
    assert (await personas.RenderPrompt(pb.RenderPromptRequest(persona=PERSONA, session=session.name))).persona == (
        PERSONA)


async def test_a_session_alone_of_another_organization_or_of_none_is_not_found(
        erasing_persona, connect, transcript_server, other_sarah):  # noqa: F811
    other_transcripts = transcript_service_pb2_grpc.TranscriptServiceStub(
        connect(transcript_server, token("admin", organization=OTHER_ORGANIZATION)))
    theirs = await new_session(other_transcripts, scenario="")
    personas = persona_service_pb2_grpc.PersonaServiceStub(connect(erasing_persona, token("interviewer")))
    for session in (theirs.name, f"sessions/{uid()}"):
        rejection = await rejected_in(ERROR_DOMAIN, personas.RenderPrompt(pb.RenderPromptRequest(session=session)),
                                      grpc.StatusCode.NOT_FOUND)
        assert (rejection.reason, rejection.info.metadata["resource"]) == ("SESSION_NOT_FOUND", session)
    their_personas = persona_service_pb2_grpc.PersonaServiceStub(
        connect(erasing_persona, token("interviewer", organization=OTHER_ORGANIZATION)))
    assert (await their_personas.RenderPrompt(pb.RenderPromptRequest(session=theirs.name))).persona == PERSONA


async def test_a_session_alone_is_refused_when_the_transcript_service_cannot_tell_its_persona(
        persona_without_transcripts, personas, connect):
    unreachable = persona_service_pb2_grpc.PersonaServiceStub(connect(persona_without_transcripts,
                                                                      token("interviewer")))
    before = metric("sparring_render_session_personas_total", outcome="unavailable")
    rejection = await rejected_in(ERROR_DOMAIN, unreachable.RenderPrompt(pb.RenderPromptRequest(
        session=f"sessions/{uid()}")), grpc.StatusCode.UNAVAILABLE)
    assert rejection.reason == "TRANSCRIPT_SERVICE_UNAVAILABLE" and retry_delay_of(rejection.status) > 0
    assert metric("sparring_render_session_personas_total", outcome="unavailable") == before + 1

    # A persona server with no transcript service to ask cannot know the persona at all.
    rejection = await rejected_in(ERROR_DOMAIN, personas.RenderPrompt(pb.RenderPromptRequest(
        session=f"sessions/{uid()}")), grpc.StatusCode.FAILED_PRECONDITION)
    assert (rejection.reason, rejection.info.metadata["field"]) == ("TRANSCRIPT_SERVICE_NOT_CONFIGURED", "persona")
