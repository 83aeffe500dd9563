"""The openai engine against a local OpenAI-compatible fake: good answers are used, everything else falls back."""

from __future__ import annotations

import grpc
import pytest
import pytest_asyncio
from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.analysis.v1 import analysis_service_pb2_grpc

from analysis_svc.app import build as build_analysis
from analysis_svc.config import AnalysisSettings
from tests.e2e.test_analysis_live import _streamed_call
from tests.fake_openai import serving

GOOD = {"say_meter": {"score": 91, "factors": {"rapport": 90, "discovery": 95, "objection_handling": 85,
                                               "value_articulation": 88, "closing_momentum": 92},
                      "reasoning": "Thorough discovery and a committed next step."},
        "suggestions": [{"type": "curveball", "text": "Your CFO wants three competing quotes.", "priority": "high",
                         "label": "Competitive pressure"}]}


@pytest.fixture(scope="module")
def fake_openai():
    with serving(lambda _request: GOOD) as server:
        yield server


@pytest_asyncio.fixture(scope="module")
async def openai_analyses(database_url, engine, analysis_schema, transcript_server, persona_server, fake_openai):
    app = await build_analysis(AnalysisSettings(
        database_url=database_url, grpc_port=0, metrics_port=0, transcript_address=transcript_server,
        persona_address=persona_server, engine="openai",
        openai_base_url=fake_openai.base_url, openai_model="fake",
        openai_timeout_seconds=0.3, openai_max_retries=1), engine)
    await app.start()
    async with grpc.aio.insecure_channel(app.address) as channel:
        yield analysis_service_pb2_grpc.AnalysisServiceStub(channel)
    await app.stop(grace=1)


async def test_a_good_answer_is_validated_and_used(transcripts, openai_analyses, fake_openai):
    fake_openai.reset("good")
    session = await _streamed_call(transcripts)
    analysis = (await openai_analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session,
                                                                                trigger_id="seq-10"))).analysis
    assert analysis.engine == pb.ENGINE_OPENAI and not analysis.engine_fallback and analysis.model == "fake"
    assert analysis.say_meter.score == 91 and analysis.say_meter.band == pb.SCORE_BAND_GREEN
    assert [s.text for s in analysis.suggestions] == ["Your CFO wants three competing quotes."]
    assert analysis.metrics.budget_covered  # the measures stay the local, real ones


@pytest.mark.parametrize("mode", ["malformed", "slow", 429, 500])
async def test_a_bad_or_missing_answer_falls_back_to_local(transcripts, openai_analyses, fake_openai, mode):
    fake_openai.reset(mode)
    before = fake_openai.requests
    session = await _streamed_call(transcripts)
    analysis = (await openai_analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session,
                                                                                trigger_id="seq-10"))).analysis
    assert analysis.engine == pb.ENGINE_OPENAI and analysis.engine_fallback
    assert 0 <= analysis.say_meter.score <= 100 and analysis.say_meter.reasoning
    tries = fake_openai.requests - before
    assert 1 <= tries <= 2  # one retry at most, as configured


async def test_local_can_still_be_asked_for(transcripts, openai_analyses, fake_openai):
    fake_openai.reset("good")
    session = await _streamed_call(transcripts)
    analysis = (await openai_analyses.RequestAnalysis(pb.RequestAnalysisRequest(
        session=session, trigger_id="seq-10", engine=pb.ENGINE_LOCAL))).analysis
    assert analysis.engine == pb.ENGINE_LOCAL and not analysis.engine_fallback
