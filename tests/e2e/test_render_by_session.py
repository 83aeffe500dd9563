"""RenderPrompt naming a session and no candidate remembers the candidate the session names at the transcript
service; when that service cannot tell, the prompt is rendered without memory, and that is counted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from sparring.persona.v1 import memory_service_pb2 as mb
from sparring.persona.v1 import memory_service_pb2_grpc, persona_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as pb

from persona_svc.app import build
from persona_svc.config import PersonaSettings
from tests.builders import uid
from tests.e2e.test_memory_erasure import erasing_persona  # noqa: F401 (a fixture)
from tests.e2e.test_persona_memory import update
from tests.e2e.transcript_fixtures import new_session
from tests.probes import free_port, metric
from tests.security import token

PERSONA = "personas/sarah-chen"


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
