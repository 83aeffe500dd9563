"""Episodes recalled by embeddings (pgvector) when an embeddings endpoint is configured, here the loopback fake's
hashed bag of words: vector ranking, and hybrid ranking fusing full text, trigram and vector; recall@5 of both on
the labelled contexts is the figure docs/memory_episodes.md reports. An endpoint that fails leaves episodes
without vectors and recall to the words, counted; vector recall without an endpoint is refused. Episodes stored
without a vector are embedded in the background by a replica with an endpoint, also after the endpoint failed, and
so are episodes embedded by another model or dimension than the endpoint's, which until then recall by their words
only.

With SPARRING_REAL_EMBEDDINGS_URL set to a real model's endpoint (`make recall-real-embeddings` serves
all-MiniLM-L6-v2 on loopback), the same recall@5 is measured with that model's vectors; without it, that test is
skipped."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
import pytest_asyncio
import sqlalchemy as sa
from sparring.persona.v1 import memory_service_pb2 as mb
from sparring.persona.v1 import memory_service_pb2_grpc, persona_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as pb

from persona_svc.app import ERROR_DOMAIN
from persona_svc.config import PersonaSettings
from svckit.notify import PgListener
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
REAL_EMBEDDINGS_URL = os.environ.get("SPARRING_REAL_EMBEDDINGS_URL", "")
REAL_MODEL = "all-MiniLM-L6-v2"
REAL_RANKINGS = {f"vector ({REAL_MODEL})": mb.EPISODE_RANKING_VECTOR,
                 f"hybrid with vectors ({REAL_MODEL})": mb.EPISODE_RANKING_HYBRID}


@pytest.fixture(scope="module")
def fake_embeddings():
    with serving(lambda request: {}) as server:
        yield server


def embedding_settings(database_url: str, base_url: str, **overrides) -> PersonaSettings:
    """A persona replica embedding episodes and contexts at ``base_url`` (the fake's): 0.5 s a try, no retry."""
    return PersonaSettings(**{"database_url": database_url, "grpc_port": 0, "metrics_port": 0,
                              "embeddings_base_url": base_url,
                              "embeddings_model": "fake-hashed-words", "embeddings_timeout_seconds": 0.5,
                              "embeddings_max_retries": 0, **overrides})


@pytest_asyncio.fixture(scope="module")
async def embedding_memories(database_url, engine, persona_schema, fake_embeddings):
    # Without the background embedding: the episodes other replicas store without a vector stay so here.
    settings = embedding_settings(database_url, fake_embeddings.base_url, embeddings_backfill_interval_seconds=0)
    async with persona_replica(settings, engine) as address, secure_channel(address) as channel:
        yield memory_service_pb2_grpc.MemoryServiceStub(channel), persona_service_pb2_grpc.PersonaServiceStub(channel)


@contextlib.asynccontextmanager
async def episode_changes(database_url: str) -> AsyncIterator[Callable[[str, str], Awaitable[None]]]:
    """``await changed(persona, session)``: returns once a change of the persona's episode of ``session`` (its
    candidate has the session's id, as ``record`` is called here) is announced after this began."""
    heard: dict[str, asyncio.Event] = {}

    def on_change(payload: str) -> None:  # "episodes:{persona}/{candidate}/{session}:{organization}"
        table, _, changed = payload.partition(":")
        scope, _, _ = changed.partition(":")
        if table == "episodes":
            heard.setdefault(scope, asyncio.Event()).set()

    listener = PgListener("episodes-waiter", database_url, {"persona_changes": on_change})
    await listener.start()

    async def changed(persona: str, session: str) -> None:
        async with asyncio.timeout(30):
            await heard.setdefault(f"{persona.removeprefix('personas/')}/{session}/{session}", asyncio.Event()).wait()

    try:
        yield changed
    finally:
        await listener.stop()


async def stored_without_vectors(channel, personas, count: int) -> tuple[pb.Persona, list[str]]:
    """A new persona and the sessions of its ``count`` episodes, recorded by a replica without embeddings."""
    persona, sessions = await create(personas), [uid() for _ in range(count)]
    for session in sessions:
        await record(memory_service_pb2_grpc.MemoryServiceStub(channel), persona, session, session, ROUND_ONE)
    return persona, sessions


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


def failed_embeddings() -> dict[str, float]:
    """The embeddings of episodes and of contexts that failed so far, by use."""
    return {use: metric("sparring_memory_embeddings_total", use=use, outcome="failed")
            for use in ("episode", "context")}


@pytest.mark.skipif(not REAL_EMBEDDINGS_URL, reason="no real model's endpoint: SPARRING_REAL_EMBEDDINGS_URL unset")
async def test_recall_at_5_with_a_real_model_is_the_documented_one(database_url, engine, persona_schema):
    # A model on a CPU shared with the database takes longer than the fake: 10 s a try, one retry.
    settings = embedding_settings(database_url, REAL_EMBEDDINGS_URL, embeddings_model=REAL_MODEL,
                                  embeddings_timeout_seconds=10, embeddings_max_retries=1,
                                  embeddings_backfill_interval_seconds=0)
    failed = failed_embeddings()
    async with persona_replica(settings, engine) as address, secure_channel(address) as channel:
        memories = memory_service_pb2_grpc.MemoryServiceStub(channel)
        persona = await played_corpus(memories, persona_service_pb2_grpc.PersonaServiceStub(channel))
        table = await recall_table(memories, persona, REAL_RANKINGS)
    print(table)
    # Every episode and context had its vector: a failed one would have been ranked by its words instead.
    assert failed_embeddings() == failed
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
    before = failed_embeddings()
    candidate = uid()

    await record(memories, persona, candidate, candidate, ROUND_ONE)
    (hybrid,) = (await memories.RecallEpisodes(mb.RecallEpisodesRequest(
        persona=persona.name, context="security questionnaire"))).episodes
    refused = await rejected_in(ERROR_DOMAIN, memories.RecallEpisodes(mb.RecallEpisodesRequest(
        persona=persona.name, context="security questionnaire", ranking=mb.EPISODE_RANKING_VECTOR)),
        grpc.StatusCode.UNAVAILABLE)

    assert hybrid.episode.session == f"sessions/{candidate}" and 0 < hybrid.score < 1  # the words' mean score
    assert refused.reason == "EMBEDDINGS_UNAVAILABLE"
    assert failed_embeddings() == {"episode": before["episode"] + 1, "context": before["context"] + 2}


async def test_episodes_stored_without_an_endpoint_are_embedded_by_a_replica_with_one_and_recalled_by_vector(
        database_url, engine, fake_embeddings, channel, personas):
    persona, sessions = await stored_without_vectors(channel, personas, 3)
    before = metric("sparring_memory_backfill_episodes_total", reason="missing", outcome="embedded")
    settings = embedding_settings(database_url, fake_embeddings.base_url, embeddings_backfill_batch=2)
    async with (episode_changes(database_url) as changed, persona_replica(settings, engine) as address,
                secure_channel(address) as replica):
        for session in sessions:
            await changed(persona.name, session)
        recalled = (await memory_service_pb2_grpc.MemoryServiceStub(replica).RecallEpisodes(mb.RecallEpisodesRequest(
            persona=persona.name, context=ROUND_ONE[4][1], ranking=mb.EPISODE_RANKING_VECTOR))).episodes

    assert sorted(r.episode.session for r in recalled) == sorted(f"sessions/{s}" for s in sessions)
    assert all(r.score > 0.3 for r in recalled)  # an episode without a vector scores 0
    assert metric("sparring_memory_backfill_episodes_total", reason="missing", outcome="embedded") >= before + 3


async def test_the_background_embedding_goes_on_after_the_endpoint_failed(
        database_url, engine, fake_embeddings, channel, personas):
    persona, (session,) = await stored_without_vectors(channel, personas, 1)
    before = metric("sparring_memory_backfill_episodes_total", reason="missing", outcome="failed")
    fake_embeddings.modes.append(500)  # the first embedding asked for fails
    async with episode_changes(database_url) as changed, persona_replica(embedding_settings(
            database_url, fake_embeddings.base_url), engine):
        await changed(persona.name, session)
    assert metric("sparring_memory_backfill_episodes_total", reason="missing", outcome="failed") == before + 1


async def vector_scores(memories, persona: pb.Persona) -> dict[str, float]:
    """The vector recall score of each of the persona's episodes, by session, against ROUND_ONE's promise."""
    recalled = (await memories.RecallEpisodes(mb.RecallEpisodesRequest(
        persona=persona.name, context=ROUND_ONE[4][1], ranking=mb.EPISODE_RANKING_VECTOR))).episodes
    return {r.episode.session.removeprefix("sessions/"): r.score for r in recalled}


async def test_an_episode_of_an_earlier_model_is_recalled_by_its_words_until_the_new_model_embeds_it_again(
        database_url, engine, fake_embeddings, embedding_memories):
    memories, personas = embedding_memories
    persona, session = await create(personas), uid()
    earlier = embedding_settings(database_url, fake_embeddings.base_url, embeddings_model="fake-earlier-model",
                                 embeddings_backfill_interval_seconds=0)
    async with persona_replica(earlier, engine) as address, secure_channel(address) as replica:
        await record(memory_service_pb2_grpc.MemoryServiceStub(replica), persona, session, session, ROUND_ONE)
    # The fake's vectors are the same whatever the model: a score here would be the earlier model's vector compared.
    assert await vector_scores(memories, persona) == {session: 0}
    (hybrid,) = (await memories.RecallEpisodes(mb.RecallEpisodesRequest(
        persona=persona.name, context=ROUND_ONE[4][1]))).episodes
    assert 0 < hybrid.score < 1  # the words' mean, not a fusion of ranks
    before = metric("sparring_memory_backfill_episodes_total", reason="other_model", outcome="embedded")

    async with (episode_changes(database_url) as changed,
                persona_replica(embedding_settings(database_url, fake_embeddings.base_url), engine)):
        await changed(persona.name, session)

    assert (await vector_scores(memories, persona))[session] > 0.3
    assert metric("sparring_memory_backfill_episodes_total", reason="other_model", outcome="embedded") >= before + 1


async def test_an_episode_embedded_with_another_dimension_by_the_same_models_name_is_embedded_again(
        database_url, engine, fake_embeddings, embedding_memories, channel, personas):
    memories, _ = embedding_memories
    persona, (unembedded,) = await stored_without_vectors(channel, personas, 1)
    shorter = uid()
    await record(memories, persona, shorter, shorter, ROUND_ONE)
    async with engine.begin() as connection:  # as if the model behind the name had given three dimensions
        await connection.execute(sa.text(
            "UPDATE persona.episodes SET embedding = '[0.6, 0.8, 0]' WHERE persona_id = :persona AND session_id = :s"),
            {"persona": persona.name.removeprefix("personas/"), "s": shorter})
    assert await vector_scores(memories, persona) == {unembedded: 0, shorter: 0}

    # The episode without an embedding, embedded first, tells the replica the endpoint's dimension.
    async with (episode_changes(database_url) as changed,
                persona_replica(embedding_settings(database_url, fake_embeddings.base_url), engine)):
        await changed(persona.name, unembedded)
        await changed(persona.name, shorter)

    assert all(score > 0.3 for score in (await vector_scores(memories, persona)).values())


async def test_vector_recall_without_an_embeddings_endpoint_is_refused(channel, personas):
    persona = await create(personas)
    refused = await rejected_in(ERROR_DOMAIN, memory_service_pb2_grpc.MemoryServiceStub(channel).RecallEpisodes(
        mb.RecallEpisodesRequest(persona=persona.name, context="price", ranking=mb.EPISODE_RANKING_VECTOR)),
        grpc.StatusCode.FAILED_PRECONDITION)
    assert refused.reason == "EMBEDDINGS_NOT_CONFIGURED"
