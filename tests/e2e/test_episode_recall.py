"""Episodic memory: every call of the sales corpus becomes an episode of one persona, and the labelled contexts of
tests/data/memory_episodes recall them; recall@5 of each ranking is the figure docs/memory_episodes.md reports."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest_asyncio
from sparring.persona.v1 import memory_service_pb2 as mb
from sparring.persona.v1 import memory_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as persona_pb

from persona_svc.app import ERROR_DOMAIN
from tests.e2e.status_details import rejected_in
from tests.e2e.test_persona_api import create

DATA = Path(__file__).resolve().parents[1] / "data"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "memory_episodes.md"
ROLES = {"user": mb.MESSAGE_ROLE_CANDIDATE, "assistant": mb.MESSAGE_ROLE_PERSONA}
RANKINGS = {"full text": mb.EPISODE_RANKING_FULL_TEXT, "trigram": mb.EPISODE_RANKING_TRIGRAM,
            "hybrid": mb.EPISODE_RANKING_HYBRID}


@pytest_asyncio.fixture(scope="module")
async def remembering(channel, personas):
    """A persona that has played every call of the corpus, each with its own candidate."""
    memories = memory_service_pb2_grpc.MemoryServiceStub(channel)
    return memories, await played_corpus(memories, personas)


async def played_corpus(memories, personas) -> persona_pb.Persona:
    """A new persona that has played every call of the corpus, each with its own candidate."""
    persona = await create(personas)
    for path in sorted((DATA / "sales_corpus" / "calls").glob("*.json")):
        call = json.loads(path.read_text())
        await memories.RecordSessionFacts(mb.RecordSessionFactsRequest(
            parent=f"{persona.name}/candidates/{call['id']}", session=f"sessions/{call['id']}",
            messages=[mb.SessionMessage(sequence=n, role=ROLES[turn["role"]], text=turn["text"])
                      for n, turn in enumerate(call["turns"], 1)]))
    return persona


async def recall_at_5(memories, persona, ranking) -> float:
    queries = json.loads((DATA / "memory_episodes" / "queries.json").read_text())["queries"]
    found = 0.0
    for query in queries:
        recalled = (await memories.RecallEpisodes(mb.RecallEpisodesRequest(
            persona=persona.name, context=query["context"], page_size=5, ranking=ranking))).episodes
        sessions = {e.episode.session.removeprefix("sessions/") for e in recalled}
        found += len(sessions & set(query["relevant"])) / len(query["relevant"])
    return found / len(queries)


async def recall_table(memories, persona, rankings: dict[str, int]) -> str:
    """The markdown table of each ranking's recall@5, as docs/memory_episodes.md shows it."""
    rows = [f"| {name} | {await recall_at_5(memories, persona, ranking):.2f} |" for name, ranking in rankings.items()]
    return "\n".join(["| ranking | recall@5 |", "|---|---|", *rows])


async def test_recall_at_5_of_each_ranking_is_the_documented_one(remembering):
    table = await recall_table(*remembering, RANKINGS)
    assert table in DOCS.read_text(), table


async def test_an_episode_is_one_per_session_with_its_summary_and_outcome(remembering):
    memories, persona = remembering
    (best,) = (await memories.RecallEpisodes(mb.RecallEpisodesRequest(
        persona=persona.name, context="send the ink prices and follow up in a week", page_size=1,
        candidate="candidates/cold-office-supplies-asks-then-follows-up"))).episodes
    episode = best.episode
    assert episode.name == (f"{persona.name}/candidates/cold-office-supplies-asks-then-follows-up/episodes/"
                            "cold-office-supplies-asks-then-follows-up")
    assert episode.outcome == "commitment" and episode.summary.startswith("Promised: ")


async def test_a_context_that_is_empty_or_too_long_is_refused(remembering):
    memories, persona = remembering
    for context in ("", "x" * 2001):
        refused = await rejected_in(ERROR_DOMAIN, memories.RecallEpisodes(mb.RecallEpisodesRequest(
            persona=persona.name, context=context)), grpc.StatusCode.INVALID_ARGUMENT)
        assert refused.fields == ["context"]
