"""The OpenAI-compatible engine as a moderation check of the candidate's messages, when configured: what it finds
is added to what the rules find; an answer it cannot back up, or none in time, leaves the rules to answer alone,
counted."""

from __future__ import annotations

import pytest
from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.persona.v1 import safety_policy_service_pb2 as policy_pb

from tests.e2e.test_analysis_live import CALL, PERSONA, USER
from tests.e2e.test_analysis_openai import _serving_analysis, _settings
from tests.e2e.test_content_findings import ILLEGAL_QUESTIONS
from tests.e2e.transcript_fixtures import persona_under, streamed_call
from tests.fake_openai import messages, serving
from tests.probes import metric

CHECKS = "sparring_analysis_moderation_checks_total"
# The rules find the age question (message 11) and miss the religion one (message 13).
CALL_WITH_QUESTIONS = [*CALL, (USER, "How old are you, by the way?"), (PERSONA, "Old enough."),
                       (USER, "And is that a kippah you wear?"), (PERSONA, "Next question.")]
RELIGION = {"sequence": 13, "category": "illegal_interview_questions", "topic": "Religion",
            "quote": "is that a kippah you wear?"}


@pytest.fixture(scope="module")
def fake_openai():
    answers = {"moderation": {"findings": [RELIGION]}}
    with serving(lambda request: answers["moderation"] if messages(request)[0].startswith("You moderate")
                 else {}) as server:
        server.answers = answers
        yield server


@pytest.fixture
async def moderated(database_url, engine, analysis_schema, transcript_server, persona_server, fake_openai):
    fake_openai.reset("good")
    settings = _settings(database_url, transcript_server, persona_server, fake_openai, engine="local",
                         moderation=True)
    async with _serving_analysis(settings, engine) as (_, stub):
        yield stub


async def _findings(transcripts, personas, policies, analyses) -> list[tuple[int, str, str]]:
    persona = await persona_under(personas, policies, policy_pb.SafetyPolicy(input_filters=[ILLEGAL_QUESTIONS]),
                                  "input_filters")
    session = await streamed_call(transcripts, CALL_WITH_QUESTIONS, persona=persona)
    analysis = (await analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session, up_to_sequence=14,
                                                                         trigger_id="seq-14"))).analysis
    assert {s.label for s in analysis.suggestions} >= {f"Illegal interview question: {f.topic}"
                                                       for f in analysis.findings}
    return [(f.message_sequence, f.topic, f.quote) for f in analysis.findings]


async def test_what_the_model_finds_is_added_to_what_the_rules_find(transcripts, personas, policies, moderated,
                                                                    fake_openai):
    used = metric(CHECKS, result="used")
    assert await _findings(transcripts, personas, policies, moderated) == [
        (11, "age", "How old are you"), (13, "religion", "is that a kippah you wear?")]
    assert metric(CHECKS, result="used") == used + 1
    _, asked = messages(fake_openai.bodies[-1])
    assert "kippah" in asked and "Old enough" not in asked, "only the candidate's messages are sent"


@pytest.mark.parametrize(("mode", "answer", "reason"), [
    ("good", {"findings": [{**RELIGION, "quote": "are you a Mormon?"}]}, "invalid_answer"),  # words never said
    ("good", {"findings": [{**RELIGION, "sequence": 12}]}, "invalid_answer"),  # a message it was not given
    ("slow", {"findings": [RELIGION]}, "timeout"),
])
async def test_an_answer_the_model_cannot_back_up_or_none_in_time_leaves_the_rules_alone(
        transcripts, personas, policies, moderated, fake_openai, mode, answer, reason):
    fake_openai.reset(mode)
    fake_openai.answers["moderation"] = answer
    fake_openai.slow_seconds = 1.0  # longer than the client's 0.3 s and its one retry
    fell_back = metric(CHECKS, result=reason)
    try:
        assert await _findings(transcripts, personas, policies, moderated) == [(11, "age", "How old are you")]
    finally:
        fake_openai.answers["moderation"] = {"findings": [RELIGION]}
    assert metric(CHECKS, result=reason) == fell_back + 1
