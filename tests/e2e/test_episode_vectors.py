"""Episodes recalled by embeddings (pgvector) when an embeddings endpoint is configured, here the loopback fake's
hashed bag of words: vector ranking, and hybrid ranking fusing full text, trigram and vector; recall@5 of both on
the labelled contexts is the figure docs/memory_episodes.md reports. An endpoint that fails leaves episodes
without vectors and recall to the words, counted; vector recall without an endpoint is refused."""

from __future__ import annotations

import grpc
import pytest
import pytest_asyncio
from sparring.persona.v1 import memory_service_pb2 as mb
from sparring.persona.v1 import memory_service_pb2_grpc, persona_service_pb2_grpc

from persona_svc.app import ERROR_DOMAIN
from persona_svc.config import PersonaSettings
from tests.builders import uid
from tests.e2e.conftest import persona_replica
from tests.e2e.status_details import rejected_in
from tests.e2e.test_episode_recall import DOCS, played_corpus, recall_table
from tests.e2e.test_persona_api import create
from tests.e2e.test_persona_memory import ROUND_ONE, record
from tests.fake_openai import serving
from tests.probes import metric
from tests.security import secure_channel

VECTOR_RANKINGS = {"vector (fake embeddings)": mb.EPISODE_RANKING_VECTOR,
                   "hybrid with vectors (fake embeddings)": mb.EPISODE_RANKING_HYBRID}


@pytest.fixture(scope="module")
def fake_embeddings():
    with serving(lambda request: {}) as server:
        yield server


@pytest_asyncio.fixture(scope="module")
async def embedding_memories(database_url, engine, persona_schema, fake_embeddings):
    """A persona replica embedding episodes and contexts with the fake: 0.5 s a try, no retry."""
    settings = PersonaSettings(database_url=database_url, grpc_port=0, metrics_port=0,
                               embeddings_base_url=fake_embeddings.base_url, embeddings_model="fake-hashed-words",
                               embeddings_timeout_seconds=0.5, embeddings_max_retries=0)
    async with persona_replica(settings, engine) as address, secure_channel(address) as channel:
        yield memory_service_pb2_grpc.MemoryServiceStub(channel), persona_service_pb2_grpc.PersonaServiceStub(channel)


@pytest.fixture
def failing(fake_embeddings):
    """``failing()``: the fake answers 500 until the end of the test."""
    yield lambda: fake_embeddings.reset(500)
    fake_embeddings.reset("good")


async def test_recall_at_5_with_vectors_is_the_documented_one(embedding_memories):
    memories, personas = embedding_memories
    persona = await played_corpus(memories, personas)
    table = await recall_table(memories, persona, VECTOR_RANKINGS)
    assert table in DOCS.read_text(), table


async def test_an_episode_is_found_by_its_embedding_and_episodes_of_another_model_come_last(
        embedding_memories, channel):
    memories, personas = embedding_memories
    persona = await create(personas)
    embedded, unembedded = uid(), uid()
    await record(memories, persona, embedded, embedded, ROUND_ONE)
    # Recorded by a replica without embeddings: no vector to compare.
    await record(memory_service_pb2_grpc.MemoryServiceStub(channel), persona, unembedded, unembedded, ROUND_ONE)

    recalled = (await memories.RecallEpisodes(mb.RecallEpisodesRequest(
        persona=persona.name, context=ROUND_ONE[4][1], ranking=mb.EPISODE_RANKING_VECTOR))).episodes
    assert [r.episode.session for r in recalled] == [f"sessions/{embedded}", f"sessions/{unembedded}"]
    assert recalled[0].score > 0.3 and recalled[1].score == 0


async def test_a_failing_endpoint_leaves_episodes_and_recall_to_the_words_counted(embedding_memories, failing):
    memories, personas = embedding_memories
    persona = await create(personas)
    failing()
    before = {use: metric("sparring_memory_embeddings_total", use=use, outcome="failed")
              for use in ("episode", "context")}
    candidate = uid()

    await record(memories, persona, candidate, candidate, ROUND_ONE)
    (hybrid,) = (await memories.RecallEpisodes(mb.RecallEpisodesRequest(
        persona=persona.name, context="security questionnaire"))).episodes
    refused = await rejected_in(ERROR_DOMAIN, memories.RecallEpisodes(mb.RecallEpisodesRequest(
        persona=persona.name, context="security questionnaire", ranking=mb.EPISODE_RANKING_VECTOR)),
        grpc.StatusCode.UNAVAILABLE)

    assert hybrid.episode.session == f"sessions/{candidate}" and 0 < hybrid.score < 1  # the words' mean score
    assert refused.reason == "EMBEDDINGS_UNAVAILABLE"
    assert metric("sparring_memory_embeddings_total", use="episode", outcome="failed") == before["episode"] + 1
    assert metric("sparring_memory_embeddings_total", use="context", outcome="failed") == before["context"] + 2


async def test_vector_recall_without_an_embeddings_endpoint_is_refused(channel, personas):
    persona = await create(personas)
    refused = await rejected_in(ERROR_DOMAIN, memory_service_pb2_grpc.MemoryServiceStub(channel).RecallEpisodes(
        mb.RecallEpisodesRequest(persona=persona.name, context="price", ranking=mb.EPISODE_RANKING_VECTOR)),
        grpc.StatusCode.FAILED_PRECONDITION)
    assert refused.reason == "EMBEDDINGS_NOT_CONFIGURED"
