"""The openai engine against a local OpenAI-compatible fake: good answers are used, everything else falls back."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
import pytest_asyncio
from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.analysis.v1 import analysis_service_pb2_grpc

from analysis_svc.app import build as build_analysis
from analysis_svc.config import AnalysisSettings
from tests.e2e.test_analysis_live import _streamed_call

GOOD = {"say_meter": {"score": 91, "factors": {"rapport": 90, "discovery": 95, "objection_handling": 85,
                                               "value_articulation": 88, "closing_momentum": 92},
                      "reasoning": "Thorough discovery and a committed next step."},
        "suggestions": [{"type": "curveball", "text": "Your CFO wants three competing quotes.", "priority": "high",
                         "label": "Competitive pressure"}]}


class FakeOpenAI(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions as the server's ``mode`` says: good, malformed, slow, 429 or 500."""

    def do_POST(self) -> None:
        self.server.requests += 1
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        mode = self.server.mode
        if mode in (429, 500):
            self._send(mode, {"error": {"message": "try later", "type": "server_error"}})
            return
        if mode == "slow":
            time.sleep(1.0)  # longer than the client's timeout: this is the behaviour under test
        content = json.dumps(GOOD) if mode in ("good", "slow") else '{"say_meter": {"score": "high"'
        self._send(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "fake",
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": content}}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    def _send(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def fake_openai():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    server.mode, server.requests = "good", 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest_asyncio.fixture(scope="module")
async def openai_analyses(database_url, engine, analysis_schema, transcript_server, persona_server, fake_openai):
    app = await build_analysis(AnalysisSettings(
        database_url=database_url, grpc_port=0, metrics_port=0, transcript_address=transcript_server,
        persona_address=persona_server, engine="openai",
        openai_base_url=f"http://127.0.0.1:{fake_openai.server_address[1]}/v1", openai_model="fake",
        openai_timeout_seconds=0.3, openai_max_retries=1), engine)
    await app.start()
    async with grpc.aio.insecure_channel(app.address) as channel:
        yield analysis_service_pb2_grpc.AnalysisServiceStub(channel)
    await app.stop(grace=1)


async def test_a_good_answer_is_validated_and_used(transcripts, openai_analyses, fake_openai):
    fake_openai.mode = "good"
    session = await _streamed_call(transcripts)
    analysis = (await openai_analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session,
                                                                                trigger_id="seq-10"))).analysis
    assert analysis.engine == pb.ENGINE_OPENAI and not analysis.engine_fallback and analysis.model == "fake"
    assert analysis.say_meter.score == 91 and analysis.say_meter.band == pb.SCORE_BAND_GREEN
    assert [s.text for s in analysis.suggestions] == ["Your CFO wants three competing quotes."]
    assert analysis.metrics.budget_covered  # the measures stay the local, real ones


@pytest.mark.parametrize("mode", ["malformed", "slow", 429, 500])
async def test_a_bad_or_missing_answer_falls_back_to_local(transcripts, openai_analyses, fake_openai, mode):
    fake_openai.mode = mode
    before = fake_openai.requests
    session = await _streamed_call(transcripts)
    analysis = (await openai_analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session,
                                                                                trigger_id="seq-10"))).analysis
    assert analysis.engine == pb.ENGINE_OPENAI and analysis.engine_fallback
    assert 0 <= analysis.say_meter.score <= 100 and analysis.say_meter.reasoning
    tries = fake_openai.requests - before
    assert 1 <= tries <= 2  # one retry at most, as configured


async def test_local_can_still_be_asked_for(transcripts, openai_analyses, fake_openai):
    fake_openai.mode = "good"
    session = await _streamed_call(transcripts)
    analysis = (await openai_analyses.RequestAnalysis(pb.RequestAnalysisRequest(
        session=session, trigger_id="seq-10", engine=pb.ENGINE_LOCAL))).analysis
    assert analysis.engine == pb.ENGINE_LOCAL and not analysis.engine_fallback
