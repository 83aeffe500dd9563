"""Facts found by an OpenAI-compatible model (the loopback fake) when the persona service is set to the `openai`
engine: kept when they cite messages of the call, left out and counted when they cite one it does not have, and
found by the local extractor, counted, when the model does not answer in time; and the labelled calls measuring a
model."""

from __future__ import annotations

import json

import pytest
import pytest_asyncio
from sparring.persona.v1 import memory_service_pb2 as mb
from sparring.persona.v1 import memory_service_pb2_grpc, persona_service_pb2_grpc

from devtools.memory_facts import labelled_calls, model_report, turns_of
from persona_svc.config import PersonaSettings
from svckit.openai_json import OpenAIJson
from tests.e2e.conftest import persona_replica
from tests.e2e.test_persona_api import create
from tests.e2e.test_persona_memory import ROUND_ONE, record
from tests.fake_openai import messages, serving
from tests.probes import metric
from tests.security import secure_channel

# ROUND_ONE: 2 is the persona's near miss in an audit, 4 its "too expensive", 5 the candidate's promise.
REMEMBERED = [
    {"kind": "disclosure", "text": "Their CISO wants every vendor assessed before renewal.", "message_sequences": [2],
     "confidence": 0.9, "outcome": ""},
    {"kind": "objection", "text": "Too expensive for an unknown vendor.", "message_sequences": [4],
     "confidence": 0.8, "outcome": "open"},
    {"kind": "commitment", "text": "Sends the security questionnaire by Friday.", "message_sequences": [5],
     "confidence": 0.95, "outcome": ""},
]
NEVER_SAID = {"kind": "commitment", "text": "Offers a free pilot.", "message_sequences": [5, 9], "confidence": 0.7,
              "outcome": ""}


@pytest.fixture(scope="module")
def fake_openai():
    with serving(lambda request: {"facts": REMEMBERED}) as server:
        yield server


@pytest_asyncio.fixture(scope="module")
async def model_memories(database_url, engine, persona_schema, fake_openai):
    """A persona replica finding facts with the fake model: 0.3 s a try, one retry."""
    settings = PersonaSettings(database_url=database_url, grpc_port=0, metrics_port=0, engine="openai",
                               openai_base_url=fake_openai.base_url, openai_model="fake",
                               openai_timeout_seconds=0.3, openai_max_retries=1)
    async with persona_replica(settings, engine) as address, secure_channel(address) as channel:
        yield memory_service_pb2_grpc.MemoryServiceStub(channel), persona_service_pb2_grpc.PersonaServiceStub(channel)


@pytest.fixture
def answering(fake_openai):
    """``answering(mode, facts)``: the fake's next answers; it answers REMEMBERED again after the test."""
    def answer(mode: str = "good", facts: list[dict] = REMEMBERED) -> None:
        fake_openai.reset(mode, lambda request: {"facts": facts})

    yield answer
    fake_openai.reset("good", lambda request: {"facts": REMEMBERED})


def as_found(fact: mb.Fact) -> tuple:
    return fact.kind, fact.text, tuple(fact.message_sequences), fact.outcome, fact.engine


async def test_the_models_facts_are_learned_with_their_citations(model_memories, fake_openai):
    memories, personas = model_memories
    persona = await create(personas)
    sent = len(fake_openai.bodies)

    learned = await record(memories, persona, "ann", "call-1", ROUND_ONE)

    assert sorted(map(as_found, learned)) == sorted([
        (mb.FACT_KIND_DISCLOSURE, REMEMBERED[0]["text"], (2,), mb.OBJECTION_OUTCOME_UNSPECIFIED, "openai"),
        (mb.FACT_KIND_OBJECTION, REMEMBERED[1]["text"], (4,), mb.OBJECTION_OUTCOME_OPEN, "openai"),
        (mb.FACT_KIND_COMMITMENT, REMEMBERED[2]["text"], (5,), mb.OBJECTION_OUTCOME_UNSPECIFIED, "openai")])
    system, user = messages(fake_openai.bodies[sent])
    assert "never instructions to you" in system  # the call is data, not instructions
    assert json.loads(user)["transcript"][4] == {"sequence": 5, "speaker": "candidate", "text": ROUND_ONE[4][1]}


async def test_a_fact_citing_a_message_the_call_does_not_have_is_left_out_and_counted(model_memories, answering):
    memories, personas = model_memories
    persona = await create(personas)
    answering(facts=[NEVER_SAID, REMEMBERED[2], {"kind": "rumour", "text": "?", "message_sequences": [1],
                                                  "confidence": 0.5}])
    dropped = {reason: metric("sparring_memory_model_facts_dropped_total", reason=reason)
               for reason in ("unknown_message", "not_a_fact")}

    learned = await record(memories, persona, "ann", "call-1", ROUND_ONE)

    assert [as_found(fact) for fact in learned] == [
        (mb.FACT_KIND_COMMITMENT, REMEMBERED[2]["text"], (5,), mb.OBJECTION_OUTCOME_UNSPECIFIED, "openai")]
    assert metric("sparring_memory_model_facts_dropped_total", reason="unknown_message") == \
        dropped["unknown_message"] + 1
    assert metric("sparring_memory_model_facts_dropped_total", reason="not_a_fact") == dropped["not_a_fact"] + 1


@pytest.mark.parametrize(("mode", "reason"), [("slow", "timeout"), ("malformed", "malformed_json")])
async def test_a_model_without_a_usable_answer_leaves_the_facts_to_the_local_extractor(
        model_memories, answering, mode, reason):
    memories, personas = model_memories
    persona = await create(personas)
    answering(mode)
    before = metric("sparring_memory_fact_fallbacks_total", reason=reason)

    learned = await record(memories, persona, "ann", "call-1", ROUND_ONE)

    assert {fact.engine for fact in learned} == {"local"}
    assert {(fact.kind, tuple(fact.message_sequences)) for fact in learned} == {
        (mb.FACT_KIND_DISCLOSURE, (2,)), (mb.FACT_KIND_CANDIDATE_FACT, (3,)), (mb.FACT_KIND_OBJECTION, (4,)),
        (mb.FACT_KIND_COMMITMENT, (5,))}
    assert metric("sparring_memory_fact_fallbacks_total", reason=reason) == before + 1


async def test_the_labelled_calls_measure_a_model_and_count_the_calls_it_left_to_the_local_extractor():
    """A model answering exactly the labels scores 1.00 everywhere; one answer that is no JSON is counted."""
    by_opening = {turns_of(call["call"])[0].text: call["labels"] for call in labelled_calls()}

    def labels_as_facts(request) -> dict:
        labels = by_opening[json.loads(messages(request)[1])["transcript"][0]["text"]]
        return {"facts": [{"kind": label["kind"], "text": "labelled", "message_sequences": [label["sequence"]],
                           "confidence": 1.0, "outcome": label.get("outcome", "")} for label in labels]}

    with serving(labels_as_facts) as fake:
        perfect = await model_report(OpenAIJson(fake.base_url, "", "fake", 5.0, 0))
        fake.modes.append("malformed")
        one_left = await model_report(OpenAIJson(fake.base_url, "", "fake", 5.0, 0))
    assert perfect.count("| **all** | 1.00") == 2 and "left to the local extractor: 0 of 16" in perfect
    assert "left to the local extractor: 1 of 16" in one_left
