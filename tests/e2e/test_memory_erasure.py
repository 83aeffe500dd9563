"""Erasing a candidate's memory in one call leaves nothing behind: every table of every schema is read for its id."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest_asyncio
import sqlalchemy as sa
from sparring.persona.v1 import memory_service_pb2 as mb
from sparring.persona.v1 import memory_service_pb2_grpc, persona_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb

from persona_svc.app import ERROR_DOMAIN, build
from persona_svc.config import PersonaSettings
from tests.builders import uid
from tests.e2e.status_details import rejected_in
from tests.e2e.test_persona_memory import ROUND_ONE, record, update
from tests.e2e.transcript_fixtures import new_session
from tests.security import secure_channel, token


@pytest_asyncio.fixture
async def erasing_persona(database_url, engine, persona_schema, transcript_server) -> AsyncIterator[str]:
    """A persona server that tells the test transcript server to forget erased candidates (and, like the shared test
    server, waits for memory as long as a busy machine needs)."""
    app = await build(PersonaSettings(database_url=database_url, grpc_port=0, metrics_port=0, memory_timeout_seconds=5,
                                      transcript_address=transcript_server), engine)
    await app.start()
    yield app.address
    await app.stop(grace=1)


async def tables_mentioning(engine, text: str) -> dict[str, int]:
    """Rows of every table of every schema (but PostgreSQL's own) whose text holds ``text``."""
    async with engine.connect() as connection:
        tables = (await connection.execute(sa.text(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"))).all()
        found = {}
        for schema, table in tables:
            count = await connection.scalar(sa.text(
                f'SELECT count(*) FROM "{schema}"."{table}" AS row WHERE strpos(row::text, :text) > 0'), {"text": text})
            if count:
                found[f"{schema}.{table}"] = count
    return found


async def test_erasing_a_candidate_leaves_nothing_of_it_in_any_schema(
        erasing_persona, connect, engine, sarah, transcripts):
    memories = memory_service_pb2_grpc.MemoryServiceStub(connect(erasing_persona, token("admin")))
    personas = persona_service_pb2_grpc.PersonaServiceStub(connect(erasing_persona, token("admin")))
    sarah_chen = persona_pb.Persona(name="personas/sarah-chen")
    candidate, session = uid(), uid()
    base = f"personas/sarah-chen/candidates/{candidate}"
    await update(memories, f"{base}/workingMemory", "scratchpad.promise", scratchpad={"promise": "questionnaire"},
                 request_id=f"promise-{uid()}")
    await update(memories, f"{base}/sessions/{session}/workingMemory", "task_context", task_context="round 1")
    await record(memories, sarah_chen, candidate, session, ROUND_ONE, request_id=f"facts-{uid()}")
    await new_session(transcripts, candidate=f"candidates/{candidate}")
    await transcripts.CreateSession(pb.CreateSessionRequest(request_id=f"create-{uid()}", session=pb.Session(
        persona="personas/sarah-chen", blueprint=persona_pb.BLUEPRINT_SALES, candidate=f"candidates/{candidate}")))
    assert {"persona.working_memories", "persona.working_memory_revisions", "persona.facts", "persona.request_log",
            "persona.audit_log", "transcript.sessions", "transcript.request_log"} <= set(
        await tables_mentioning(engine, candidate))
    render = persona_pb.RenderPromptRequest(persona="personas/sarah-chen", candidate=f"candidates/{candidate}")
    assert (await personas.RenderPrompt(render)).applied_memory  # now kept in the rendering caches

    erased = await memories.EraseCandidateMemory(mb.EraseCandidateMemoryRequest(candidate=f"candidates/{candidate}"))
    assert (erased.working_memories_erased, erased.revisions_erased, erased.facts_erased,
            erased.sessions_unlinked, erased.episodes_erased) == (2, 2, 4, 2, 1)
    assert await tables_mentioning(engine, candidate) == {}
    assert not (await personas.RenderPrompt(render)).applied_memory

    nobody = await memories.EraseCandidateMemory(mb.EraseCandidateMemoryRequest(candidate=f"candidates/{uid()}"))
    assert nobody == mb.EraseCandidateMemoryResponse()


async def test_erasure_needs_an_admin_and_a_candidates_name(erasing_persona, connect):
    interviewers = memory_service_pb2_grpc.MemoryServiceStub(connect(erasing_persona, token("interviewer")))
    refused = await rejected_in(ERROR_DOMAIN, interviewers.EraseCandidateMemory(
        mb.EraseCandidateMemoryRequest(candidate=f"candidates/{uid()}")), grpc.StatusCode.PERMISSION_DENIED)
    assert refused.reason == "ROLE_NOT_PERMITTED"
    async with secure_channel(erasing_persona) as channel:
        bad = await rejected_in(ERROR_DOMAIN, memory_service_pb2_grpc.MemoryServiceStub(channel).EraseCandidateMemory(
            mb.EraseCandidateMemoryRequest(candidate="people/x")), grpc.StatusCode.INVALID_ARGUMENT)
    assert bad.fields == ["candidate"]
