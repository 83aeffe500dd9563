"""Two rounds with the same candidate through the public API: when a session with a candidate ends, its persona
learns the call's facts, and the second round's prompt remembers what the first one said."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest_asyncio
from sparring.persona.v1 import memory_service_pb2 as mb
from sparring.persona.v1 import memory_service_pb2_grpc, persona_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from svckit.notify import PgListener
from tests.builders import uid
from tests.e2e.status_details import rejected_in
from tests.e2e.test_persona_memory import ROUND_ONE, ROUND_TWO
from tests.e2e.test_transcript_outbox import fake_analysis  # noqa: F401 (a fixture)
from tests.e2e.transcript_fixtures import streamed_call
from tests.security import secure_channel
from transcript_svc.app import ERROR_DOMAIN, build

STREAM_ROLES = {mb.MESSAGE_ROLE_CANDIDATE: pb.ROLE_USER, mb.MESSAGE_ROLE_PERSONA: pb.ROLE_ASSISTANT}


@pytest_asyncio.fixture
async def learned(database_url) -> AsyncIterator[Callable[[str], Awaitable[None]]]:
    """``await learned(candidate)``: returns once the persona service has stored facts of ``candidate``, as its
    change announcements tell."""
    heard: dict[str, asyncio.Event] = {}

    def on_change(payload: str) -> None:  # "facts:{persona}/{candidate}/{session}:{organization}"
        table, _, scope = payload.partition(":")
        if table == "facts":
            heard.setdefault(scope.split("/")[1], asyncio.Event()).set()

    listener = PgListener("facts-waiter", database_url, {"persona_changes": on_change})
    await listener.start()

    async def wait(candidate: str) -> None:
        async with asyncio.timeout(60):
            await heard.setdefault(candidate, asyncio.Event()).wait()
        heard.pop(candidate)

    yield wait
    await listener.stop()


@pytest_asyncio.fixture
async def transcripts_with_outbox(transcript_settings, engine, transcript_schema, fake_analysis):  # noqa: F811
    _, address = await fake_analysis()
    app = await build(transcript_settings(analysis_address=address), engine)
    await app.start()
    async with secure_channel(app.address) as channel:
        yield transcript_service_pb2_grpc.TranscriptServiceStub(channel)
    await app.stop(grace=1)


async def play_round(transcripts, candidate: str, lines, learned) -> str:
    name = await streamed_call(transcripts, [(STREAM_ROLES[role], text) for role, text in lines],
                               candidate=f"candidates/{candidate}")
    await transcripts.EndSession(pb.EndSessionRequest(name=name))
    await learned(candidate)
    return name


async def test_the_second_round_remembers_what_the_first_one_said(transcripts_with_outbox, learned, channel):
    personas = persona_service_pb2_grpc.PersonaServiceStub(channel)
    memories = memory_service_pb2_grpc.MemoryServiceStub(channel)
    candidate = uid()
    render = persona_pb.RenderPromptRequest(persona="personas/sarah-chen", candidate=f"candidates/{candidate}")
    assert not (await personas.RenderPrompt(render)).applied_memory

    first = await play_round(transcripts_with_outbox, candidate, ROUND_ONE, learned)
    session = (await transcripts_with_outbox.GetSession(pb.GetSessionRequest(name=first))).session
    assert session.candidate == f"candidates/{candidate}"
    facts = (await memories.ListFacts(mb.ListFactsRequest(parent=f"personas/sarah-chen/candidates/{candidate}"))).facts
    assert {f.session for f in facts} == {first} and len(facts) == 4
    round_two = await personas.RenderPrompt(render)
    assert f"- The candidate promised: {ROUND_ONE[4][1]}" in round_two.system_prompt
    assert f"- You told them: {ROUND_ONE[1][1]}" in round_two.system_prompt
    (last_call,) = [m for m in round_two.applied_memory if m.block == "episodes"]
    assert last_call.text.endswith("ended with: commitment") and last_call.source.endswith(f"/episodes/{first[9:]}")

    await play_round(transcripts_with_outbox, candidate, ROUND_TWO, learned)
    round_three = await personas.RenderPrompt(render)
    assert f"- The candidate promised: {ROUND_TWO[0][1]}" in round_three.system_prompt
    assert ROUND_ONE[4][1] not in round_three.system_prompt


async def test_a_session_naming_something_else_than_a_candidate_is_refused(transcripts):
    refused = await rejected_in(ERROR_DOMAIN, transcripts.CreateSession(pb.CreateSessionRequest(session=pb.Session(
        persona="personas/sarah-chen", blueprint=persona_pb.BLUEPRINT_SALES, candidate="people/ann"))),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert refused.fields == ["session.candidate"]
