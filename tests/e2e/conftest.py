"""A real persona server on port 0 with real stubs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest_asyncio
from sparring.persona.v1 import persona_service_pb2_grpc, safety_policy_service_pb2_grpc

from persona_svc.app import build
from persona_svc.config import PersonaSettings
from tests.security import OTHER_ORGANIZATION, secure_channel, token


@contextlib.asynccontextmanager
async def persona_replica(settings: PersonaSettings, engine) -> AsyncIterator[str]:
    """A persona server of ``settings`` on ``engine``, serving at the address it yields."""
    app = await build(settings, engine)
    await app.start()
    try:
        yield app.address
    finally:
        await app.stop(grace=1)


@pytest_asyncio.fixture(scope="session")
async def persona_server(database_url, engine, persona_schema) -> AsyncIterator[str]:
    # A test machine shared by the whole suite can take longer than the default deadline to read memory; the
    # fallback has its own test.
    settings = PersonaSettings(database_url=database_url, grpc_port=0, metrics_port=0, memory_timeout_seconds=5)
    async with persona_replica(settings, engine) as address:
        yield address


@pytest_asyncio.fixture(scope="session")
async def channel(persona_server) -> AsyncIterator[grpc.aio.Channel]:
    async with secure_channel(persona_server) as channel:
        yield channel


@pytest_asyncio.fixture(scope="session")
async def personas(channel) -> persona_service_pb2_grpc.PersonaServiceStub:
    return persona_service_pb2_grpc.PersonaServiceStub(channel)


@pytest_asyncio.fixture(scope="session")
async def policies(channel) -> safety_policy_service_pb2_grpc.SafetyPolicyServiceStub:
    """The persona service's safety policies, as an admin of the test organization calls them."""
    return safety_policy_service_pb2_grpc.SafetyPolicyServiceStub(channel)


@pytest_asyncio.fixture(scope="session")
async def connect() -> AsyncIterator:
    """``connect(address, bearer)``: a TLS channel calling with ``bearer``, closed at the end of the run."""
    channels: list[grpc.aio.Channel] = []

    def open_channel(address: str, bearer: str) -> grpc.aio.Channel:
        channels.append(secure_channel(address, bearer))
        return channels[-1]

    yield open_channel
    for opened in channels:
        await opened.close()


@pytest_asyncio.fixture(scope="session")
async def authors(persona_server, connect) -> persona_service_pb2_grpc.PersonaServiceStub:
    """The persona service as an author (not an admin) of the test organization calls it."""
    return persona_service_pb2_grpc.PersonaServiceStub(connect(persona_server, token("author")))


async def _create_sarah(personas: persona_service_pb2_grpc.PersonaServiceStub) -> None:
    """``personas/sarah-chen`` in the organization ``personas`` calls for, unless it is there already."""
    from sparring.persona.v1 import persona_service_pb2 as pb

    try:
        await personas.CreatePersona(pb.CreatePersonaRequest(persona_id="sarah-chen", persona=pb.Persona(
            slug="sarah-chen", display_name="Sarah Chen", role="VP Finance", blueprint=pb.BLUEPRINT_SALES,
            difficulty=4, personality_traits=["sceptical", "blunt"])))
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS


@pytest_asyncio.fixture(scope="session")
async def sarah(personas) -> None:
    """The persona of every test session (``personas/sarah-chen``), as the live tests create it."""
    await _create_sarah(personas)


@pytest_asyncio.fixture(scope="session")
async def other_sarah(persona_server, connect) -> None:
    """``personas/sarah-chen`` of the other organization (OTHER_ORGANIZATION), for its sessions."""
    await _create_sarah(persona_service_pb2_grpc.PersonaServiceStub(
        connect(persona_server, token("admin", organization=OTHER_ORGANIZATION))))


@pytest_asyncio.fixture(scope="session")
async def transcript_settings(database_url, persona_server, sarah):
    """``transcript_settings(**overrides)``: a transcript server on the test database and port 0, whose sessions
    are checked against the test persona server."""
    from transcript_svc.config import TranscriptSettings

    def make(**overrides) -> TranscriptSettings:
        return TranscriptSettings(**{"database_url": database_url, "grpc_port": 0, "metrics_port": 0,
                                     "persona_address": persona_server, **overrides})

    return make


@pytest_asyncio.fixture(scope="session")
async def transcript_server(engine, transcript_schema, transcript_settings) -> AsyncIterator[str]:
    from transcript_svc.app import build as build_transcript

    app = await build_transcript(transcript_settings(), engine)
    await app.start()
    yield app.address
    await app.stop(grace=2)


@pytest_asyncio.fixture(scope="session")
async def transcripts(transcript_server):
    from sparring.transcript.v1 import transcript_service_pb2_grpc

    async with secure_channel(transcript_server) as channel:
        yield transcript_service_pb2_grpc.TranscriptServiceStub(channel)


@pytest_asyncio.fixture(scope="session")
async def analysis_server(database_url, engine, analysis_schema, transcript_server, persona_server):
    from analysis_svc.app import build as build_analysis
    from analysis_svc.config import AnalysisSettings

    app = await build_analysis(AnalysisSettings(database_url=database_url, grpc_port=0, metrics_port=0,
                                                transcript_address=transcript_server,
                                                persona_address=persona_server), engine)
    await app.start()
    yield app.address
    await app.stop(grace=1)


@pytest_asyncio.fixture(scope="session")
async def analyses(analysis_server):
    from sparring.analysis.v1 import analysis_service_pb2_grpc

    async with secure_channel(analysis_server) as channel:
        yield analysis_service_pb2_grpc.AnalysisServiceStub(channel)


@pytest_asyncio.fixture(scope="session")
async def catalogue(channel) -> None:
    """The shipped catalogue (personas, scenarios, archetypes), loaded through the persona API."""
    from devtools.catalogue_loader import load_catalogue

    await load_catalogue(channel)


@pytest_asyncio.fixture(scope="session")
async def learning_server(database_url, engine, learning_schema, persona_server, catalogue) -> AsyncIterator[str]:
    from learning_svc.app import build as build_learning
    from learning_svc.config import LearningSettings

    # The suite starts far more runs, as one admin, than any operator would.
    settings = LearningSettings(database_url=database_url, grpc_port=0, metrics_port=0,
                                persona_address=persona_server, rate_limit_burst=100_000)
    app = await build_learning(settings, engine)
    await app.start()
    yield app.address
    await app.stop(grace=2)


@pytest_asyncio.fixture(scope="session")
async def learnings(learning_server):
    from sparring.learning.v1 import learning_service_pb2_grpc

    async with secure_channel(learning_server) as channel:
        yield learning_service_pb2_grpc.LearningServiceStub(channel)


@pytest_asyncio.fixture(scope="session")
async def finished_runs(database_url, learning_schema):
    """Waits for background runs by the NOTIFY each one sends when it ends: ``await finished_runs(name)``."""
    from tests.e2e.run_waiter import run_waiter

    async with run_waiter(database_url) as wait:
        yield wait


@pytest_asyncio.fixture(scope="module")
async def audits_changed(database_url):
    """Waits for the learning service to announce a newly recorded audit."""
    from learning_svc.adapters.repositories import AUDITS_CHANNEL
    from svckit.notify import PgListener
    from tests.e2e.run_waiter import RUN_WAIT_SECONDS

    heard = asyncio.Event()
    listener = PgListener("audits-test", database_url, {AUDITS_CHANNEL: lambda _persona: heard.set()})
    await listener.start()

    async def changed() -> None:
        async with asyncio.timeout(RUN_WAIT_SECONDS):
            await heard.wait()
        heard.clear()

    yield changed
    await listener.stop()


@pytest_asyncio.fixture(scope="session")
async def deleted_persona(personas) -> str:
    """The name of a persona that exists, soft-deleted."""
    from sparring.persona.v1 import persona_service_pb2 as pb

    from tests.e2e.test_persona_api import create

    created = await create(personas)
    await personas.DeletePersona(pb.DeletePersonaRequest(name=created.name))
    return created.name


@pytest_asyncio.fixture
async def voiced(personas, catalogue):
    """``await voiced(**fields)``: the name of a new persona with voice enabled (and ``fields``), in the shipped
    catalogue's organization."""
    from sparring.persona.v1 import persona_service_pb2 as pb

    from tests.builders import new_persona

    async def create(**fields) -> str:
        reply = await personas.CreatePersona(pb.CreatePersonaRequest(persona=new_persona(**fields)))
        return reply.persona.name

    return create


ELEVENLABS_TRIES = 5  # of one provider operation by the persona servers of ``voice_transcripts``: 4 retries


@pytest_asyncio.fixture(scope="session")
async def fake_elevenlabs():
    """A fake ElevenLabs API on loopback (devtools/fake_elevenlabs.py), counting every request."""
    from devtools.fake_elevenlabs import serving

    with serving() as server:
        yield server


@pytest_asyncio.fixture
async def elevenlabs(fake_elevenlabs):
    """The fake ElevenLabs, answering normally again after the test."""
    from devtools.fake_elevenlabs import API_KEY

    yield fake_elevenlabs
    fake_elevenlabs.modes.clear()
    fake_elevenlabs.key = API_KEY
    fake_elevenlabs.retry_after_seconds = 0.0


@pytest_asyncio.fixture(scope="session")
async def fake_retell():
    """A fake Retell API on loopback (tests/fake_retell.py), counting every request."""
    from tests.fake_retell import serving

    with serving() as server:
        yield server


@pytest_asyncio.fixture(scope="session")
async def voice_servers(database_url, engine, persona_schema, transcript_schema, transcript_settings,
                        fake_elevenlabs, fake_retell):
    """(transcript address, persona address) of a transcript server whose persona server has the fake ElevenLabs
    and the fake Retell configured, over the test database."""
    from devtools import fake_elevenlabs as elevenlabs
    from tests import fake_retell as retell
    from transcript_svc.app import build as build_transcript

    persona_app = await build(PersonaSettings(
        database_url=database_url, grpc_port=0, metrics_port=0, elevenlabs_api_key=elevenlabs.API_KEY,
        elevenlabs_base_url=fake_elevenlabs.base_url, retell_api_key=retell.API_KEY,
        retell_base_url=fake_retell.base_url,
        voice_provider_timeout_seconds=0.5,
        voice_provider_max_retries=ELEVENLABS_TRIES - 1, voice_provider_budget_seconds=5), engine)
    await persona_app.start()
    transcript_app = await build_transcript(transcript_settings(persona_address=persona_app.address), engine)
    await transcript_app.start()
    yield transcript_app.address, persona_app.address
    await transcript_app.stop(grace=1)
    await persona_app.stop(grace=1)


@pytest_asyncio.fixture(scope="session")
async def voice_transcripts(voice_servers):
    """(transcript stub, voice agent stub) of the ``voice_servers``."""
    from sparring.persona.v1 import voice_agent_service_pb2_grpc
    from sparring.transcript.v1 import transcript_service_pb2_grpc

    transcript_address, persona_address = voice_servers
    async with secure_channel(transcript_address) as channel, secure_channel(persona_address) as agents:
        yield (transcript_service_pb2_grpc.TranscriptServiceStub(channel),
               voice_agent_service_pb2_grpc.VoiceAgentServiceStub(agents))


@pytest_asyncio.fixture
async def handoffs(transcript_server):
    from sparring.transcript.v1 import handoff_service_pb2_grpc

    async with secure_channel(transcript_server) as channel:
        yield handoff_service_pb2_grpc.HandoffServiceStub(channel)


@pytest_asyncio.fixture
async def voice_handoffs(voice_servers):
    """The handoffs of the transcript server of ``voice_servers``."""
    from sparring.transcript.v1 import handoff_service_pb2_grpc

    async with secure_channel(voice_servers[0]) as channel:
        yield handoff_service_pb2_grpc.HandoffServiceStub(channel)


@pytest_asyncio.fixture(scope="module")
async def gateway_voice_agents(persona_server, connect):
    """The persona service's voice agents as a self-hosted gateway reads them."""
    from sparring.persona.v1 import voice_agent_service_pb2_grpc

    return voice_agent_service_pb2_grpc.VoiceAgentServiceStub(connect(persona_server, token("gateway")))


@pytest_asyncio.fixture(scope="session")
async def approvals(transcript_server, connect):
    """The transcript service's approvals, as an admin of the test organization calls them."""
    from sparring.transcript.v1 import approval_service_pb2_grpc

    return approval_service_pb2_grpc.ApprovalServiceStub(connect(transcript_server, token("admin")))


@pytest_asyncio.fixture
async def expiry(engine, persona_server, transcript_settings):
    """The approval expiry job's sweep, on the test database and persona service, run when a test says."""
    from access.permissions import PERMISSIONS
    from service_clients.persona import PersonaClient
    from service_clients.safety_policies import SafetyPolicyReader
    from svckit.pagination import PageTokens
    from svckit.transport import Security
    from transcript_svc.adapters.unit_of_work import DatabaseUnitOfWork
    from transcript_svc.domain.approvals import DEFAULT_APPROVAL_TTL
    from transcript_svc.service_layer.approvals import ApprovalDesk

    security = Security(transcript_settings(), PERMISSIONS)
    reader = SafetyPolicyReader(security.link(persona_server), 2.0, 0, 10)
    owners = PersonaClient(security.link(persona_server), 2.0)
    yield ApprovalDesk(lambda: DatabaseUnitOfWork(engine), reader, owners, DEFAULT_APPROVAL_TTL,
                       PageTokens.from_secret("approvals"))
    await reader.close()
    await owners.close()


@pytest_asyncio.fixture
async def wired_transcript(transcript_settings, engine, transcript_schema, analysis_server) -> AsyncIterator[str]:
    """A transcript replica that hands its triggers and audits to the analysis service, as `make run` wires it: its
    address."""
    from transcript_svc.app import build as build_transcript

    transcript = await build_transcript(transcript_settings(analysis_address=analysis_server), engine)
    await transcript.start()
    yield transcript.address
    await transcript.stop(grace=1)
