"""The openai engine against a local OpenAI-compatible fake, for live analyses and post-call audits: good answers
are used, invalid or late ones fall back to local (each fault of the endpoint: tests/faults/test_model_endpoint.py)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.analysis.v1 import analysis_service_pb2_grpc
from sparring.audit.v1 import audit_pb2
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from analysis_svc.app import build as build_analysis
from analysis_svc.config import AnalysisSettings
from analysis_svc.domain.tracks.security import RUBRIC as SECURITY_RUBRIC
from calls.persona_audit import target_words_per_turn
from calls.turns import words
from svckit.server import GrpcApp
from tests.e2e.status_details import reason_and_fields
from tests.e2e.test_analysis_live import CALL, PERSONA
from tests.e2e.test_call_language import SPANISH_CALL
from tests.e2e.test_track_say_meter import SECURITY_CALL
from tests.e2e.transcript_fixtures import streamed_call
from tests.fake_openai import messages, serving
from tests.probes import metric
from tests.security import secure_channel

GOOD = {"say_meter": {"score": 91, "factors": {"rapport": 90, "discovery": 95, "objection_handling": 85,
                                               "value_articulation": 88, "closing_momentum": 92},
                      "reasoning": "Thorough discovery and a committed next step."},
        "suggestions": [{"type": "curveball", "text": "Your CFO wants three competing quotes.", "priority": "high",
                         "label": "Competitive pressure", "cites": [9]}]}


# The persona's messages of CALL are 2, 4, 6, 8 and 10; 10 is "Alright, send me a proposal and let's meet again on
# Tuesday."
AUDIT = {"scores": {"brevity": 9, "authenticity": 8, "consistency": 6, "enthusiasm_leak": 10, "pacing": 4},
         "flagged_quotes": [{"sequence": 10, "text": "Alright, send me a proposal", "reason": "pacing",
                             "explanation": "Agrees to a next step right after calling it too expensive."}],
         "recommendations": ["Ask for a reference customer before agreeing to see a proposal."]}


def _answering(audit: dict | str):
    """The fake's answers: ``audit`` to an audit prompt, GOOD to an analysis prompt."""
    return lambda request: audit if messages(request)[0].startswith("You audit") else GOOD


@pytest.fixture(scope="module")
def fake_openai():
    with serving(_answering(AUDIT)) as server:
        yield server


def _settings(database_url, transcript_server, persona_server, fake_openai, **overrides) -> AnalysisSettings:
    return AnalysisSettings(**{
        "database_url": database_url, "grpc_port": 0, "metrics_port": 0, "transcript_address": transcript_server,
        "persona_address": persona_server, "engine": "openai", "openai_base_url": fake_openai.base_url,
        "openai_model": "fake", "openai_timeout_seconds": 0.3, "openai_max_retries": 1, **overrides})


@contextlib.asynccontextmanager
async def _serving_analysis(settings: AnalysisSettings, engine) -> AsyncIterator[tuple[GrpcApp, object]]:
    app = await build_analysis(settings, engine)
    await app.start()
    try:
        async with secure_channel(app.address) as channel:
            yield app, analysis_service_pb2_grpc.AnalysisServiceStub(channel)
    finally:
        await app.stop(grace=1)


@pytest_asyncio.fixture(scope="module")
async def openai_server(database_url, engine, analysis_schema, transcript_server, persona_server, fake_openai):
    async with _serving_analysis(_settings(database_url, transcript_server, persona_server, fake_openai),
                                 engine) as (app, _):
        yield app.address


@pytest_asyncio.fixture(scope="module")
async def openai_analyses(openai_server):
    async with secure_channel(openai_server) as channel:
        yield analysis_service_pb2_grpc.AnalysisServiceStub(channel)


async def test_a_good_answer_is_validated_and_used(transcripts, openai_analyses, fake_openai):
    fake_openai.reset("good")
    session = await streamed_call(transcripts, CALL)
    analysis = (await openai_analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session,
                                                                                trigger_id="seq-10"))).analysis
    assert analysis.engine == pb.ENGINE_OPENAI and not analysis.engine_fallback and analysis.model == "fake"
    assert analysis.say_meter.score == 91 and analysis.say_meter.band == pb.SCORE_BAND_GREEN
    assert [(s.text, list(s.cited_sequences)) for s in analysis.suggestions] == [
        ("Your CFO wants three competing quotes.", [9])]
    assert analysis.metrics.budget_covered  # the measures stay the local, real ones


async def test_local_can_still_be_asked_for(transcripts, openai_analyses, fake_openai):
    fake_openai.reset("good")
    session = await streamed_call(transcripts, CALL)
    analysis = (await openai_analyses.RequestAnalysis(pb.RequestAnalysisRequest(
        session=session, trigger_id="seq-10", engine=pb.ENGINE_LOCAL))).analysis
    assert analysis.engine == pb.ENGINE_LOCAL and not analysis.engine_fallback


RAISED = [  # deliberately not by priority, nor alphabetical: kept as the engine raised them
    {"type": "context_injection", "text": "Mention the audit finding from last quarter.", "priority": "low",
     "label": "Audit finding", "cites": [8]},
    {"type": "curveball", "text": "Your CFO has frozen all new spend.", "priority": "critical", "label": "Freeze",
     "cites": [8]},
    {"type": "followup_question", "text": "Who else feels the invoice pain?", "priority": "medium",
     "label": "Pain owners", "cites": [8]},
    {"type": "curveball", "text": "A competitor offered a free pilot.", "priority": "high", "label": "Free pilot",
     "cites": [8]},
    {"type": "context_injection", "text": "Bring up the board meeting next week.", "priority": "low",
     "label": "Board meeting", "cites": [8]},
]


async def test_suggestions_are_read_back_in_the_order_they_were_raised(transcripts, openai_analyses, fake_openai):
    fake_openai.reset("good", lambda request: {**GOOD, "suggestions": RAISED})
    try:
        session = await streamed_call(transcripts, CALL)
        analysis = (await openai_analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session,
                                                                                    trigger_id="seq-10"))).analysis
    finally:
        fake_openai.reset("good", _answering(AUDIT))
    raised = [s["text"] for s in RAISED]
    assert [s.text for s in analysis.suggestions] == raised
    again = (await openai_analyses.GetAnalysis(pb.GetAnalysisRequest(name=analysis.name))).analysis
    assert [s.text for s in again.suggestions] == raised
    paged, token = [], ""
    while True:
        page = await openai_analyses.ListSuggestions(pb.ListSuggestionsRequest(parent=session, page_size=2,
                                                                               page_token=token))
        paged += [s.text for s in page.suggestions]
        token = page.next_page_token
        if not token:
            break
    assert paged == raised
    snapshot = (await openai_analyses.GetSessionSnapshot(pb.GetSessionSnapshotRequest(session=session))).snapshot
    assert [s.text for s in snapshot.open_suggestions] == raised


def _fallbacks(reason: str) -> float:
    return metric("sparring_analysis_engine_fallbacks_total", reason=reason)


SECURITY_FACTORS = {"threat_understanding": 70, "incident_handling": 90, "remediation": 85, "honesty": 60,
                    "communication": 75}


def _security_answer(factors: dict[str, int]):
    return lambda request: {**GOOD, "say_meter": {**GOOD["say_meter"], "score": 78, "factors": factors},
                            "suggestions": []}


async def _security_reading(transcripts, openai_analyses, fake_openai, factors: dict[str, int]) -> pb.Analysis:
    fake_openai.reset("good", _security_answer(factors))
    try:
        session = await streamed_call(transcripts, SECURITY_CALL, blueprint=persona_pb.BLUEPRINT_SECURITY)
        return (await openai_analyses.RequestAnalysis(pb.RequestAnalysisRequest(
            session=session, up_to_sequence=len(SECURITY_CALL), trigger_id=f"seq-{len(SECURITY_CALL)}"))).analysis
    finally:
        fake_openai.reset("good", _answering(AUDIT))


async def test_a_security_call_asks_the_model_for_the_security_factors_and_reports_its_answer(
        transcripts, openai_analyses, fake_openai):
    analysis = await _security_reading(transcripts, openai_analyses, fake_openai, SECURITY_FACTORS)

    system, user = messages(fake_openai.bodies[-1])
    for factor in SECURITY_RUBRIC.factors:  # each named with what it means, as the local rubric defines it
        assert f'"{factor.name}" ({SECURITY_RUBRIC.weights[factor.name]}): {factor.meaning}' in system
    assert "rapport" not in system and "closing_momentum" not in system
    assert "threat:attacker" in json.loads(user)["call_so_far"]["track_moves_so_far"]
    assert analysis.engine == pb.ENGINE_OPENAI and not analysis.engine_fallback
    meter = analysis.say_meter
    assert meter.score == 78
    assert [(f.name, f.score, f.weight) for f in meter.rubric_factors] == [
        (name, score, SECURITY_RUBRIC.weights[name]) for name, score in SECURITY_FACTORS.items()]
    assert meter.factors == pb.SayMeterFactors() and meter.weights == pb.SayMeterFactors()


@pytest.mark.parametrize("factors", [
    {name: score for name, score in SECURITY_FACTORS.items() if name != "honesty"},
    {**SECURITY_FACTORS, "rapport": 80},
    GOOD["say_meter"]["factors"],
], ids=["missing-honesty", "extra-rapport", "sales-factors"])
async def test_an_answer_off_the_tracks_factors_is_malformed_and_falls_back_to_local(
        transcripts, openai_analyses, fake_openai, factors):
    counted = _fallbacks("invalid_answer")

    analysis = await _security_reading(transcripts, openai_analyses, fake_openai, factors)

    assert analysis.engine == pb.ENGINE_LOCAL and analysis.engine_fallback
    assert _fallbacks("invalid_answer") == counted + 1
    assert [f.name for f in analysis.say_meter.rubric_factors] == list(SECURITY_RUBRIC.names)


async def test_a_spanish_call_asks_the_model_to_write_in_spanish(transcripts, openai_analyses, fake_openai):
    asked = {"type": "followup_question", "text": "Pregunta quién más tiene que aprobar el cambio.",
             "priority": "medium", "label": "Quién decide", "cites": [4]}
    fake_openai.reset("good", lambda request: {**GOOD, "suggestions": [asked]})
    try:
        session = await streamed_call(transcripts, SPANISH_CALL)
        analysis = (await openai_analyses.RequestAnalysis(pb.RequestAnalysisRequest(
            session=session, trigger_id="seq-4"))).analysis
    finally:
        fake_openai.reset("good", _answering(AUDIT))

    system, user = messages(fake_openai.bodies[-1])
    assert "suggestions' texts and labels in Spanish." in " ".join(system.split())
    assert json.loads(user)["call_so_far"]["language"] == "es"
    assert analysis.engine == pb.ENGINE_OPENAI and analysis.language == "es"
    assert [(s.label, s.text) for s in analysis.suggestions] == [(asked["label"], asked["text"])]


# Post-call audits


async def _ended_call(transcripts) -> str:
    session = await streamed_call(transcripts, CALL)
    await transcripts.EndSession(transcript_pb.EndSessionRequest(name=session))
    return session


PERSONA_WORDS = [words(text) for role, text in CALL if role == PERSONA]


async def test_a_good_audit_answer_is_validated_and_used(transcripts, sarah, personas, openai_analyses, fake_openai):
    fake_openai.reset("good", _answering(AUDIT))
    before = fake_openai.requests
    session = await _ended_call(transcripts)
    reply = await openai_analyses.AuditSession(pb.AuditSessionRequest(session=session))  # no engine: the default
    audit = reply.audit
    assert not reply.duplicate and audit.engine == pb.ENGINE_OPENAI and not audit.engine_fallback
    assert (audit.scores.brevity, audit.scores.authenticity, audit.scores.consistency, audit.scores.enthusiasm_leak,
            audit.scores.pacing) == (9, 8, 6, 10, 4)
    assert audit.overall_score == pytest.approx(7.4)
    assert [(q.sequence, q.reason, q.text) for q in audit.flagged_quotes] == [
        (10, audit_pb2.FLAG_REASON_PACING, "Alright, send me a proposal")]
    assert list(audit.recommendations) == AUDIT["recommendations"]
    # The facts are measured, not the model's.
    assert audit.persona_turn_count == len(PERSONA_WORDS) == 5
    assert audit.avg_words_per_turn == pytest.approx(sum(PERSONA_WORDS) / 5)
    # The persona's own target (the shipped catalogue, if loaded first, has Sarah at another difficulty).
    sarah_now = (await personas.GetPersona(persona_pb.GetPersonaRequest(name="personas/sarah-chen"))).persona
    target = target_words_per_turn(sarah_now.difficulty)
    assert (audit.target_words_per_turn.min_words, audit.target_words_per_turn.max_words) == (target.min_words,
                                                                                            target.max_words)
    assert fake_openai.requests - before == 1
    system, user = messages(fake_openai.bodies[-1])
    assert f"difficulty {sarah_now.difficulty}" in system and str(target) in system and "traits: " in system
    transcript = json.loads(user)["transcript"]
    assert transcript[-2]["speaker"] == "candidate" and "words" not in transcript[-2]
    assert transcript[-1] == {"sequence": 10, "speaker": "persona", "words": 11,
                              "text": "Alright, send me a proposal and let's meet again on Tuesday."}

    # Stored with its engine: read back, and a repeat asking for local returns it unchanged.
    assert (await openai_analyses.GetPersonaAudit(pb.GetPersonaAuditRequest(name=audit.name))).audit == audit
    again = await openai_analyses.AuditSession(pb.AuditSessionRequest(session=session, engine=pb.ENGINE_LOCAL))
    assert again.duplicate and again.audit == audit
    assert fake_openai.requests - before == 1


# What a coach labels each flaw by (tests/data/persona_audit_set/README.md), as the model judge must be told it.
LABELLING_RULES = {
    "early_disclosure": "before asking anything about the persona's problem",
    "no_resistance": "after its objections were raised and answered, is fine",
    "unresponsive": "small talk or an anecdote",
    "repetition": "word for word or nearly",
    "contradicts_scenario": "the scenario's facts rule out",
    "out_of_character": "offers help or to make material, or coaches the candidate",
    "hostility": "bluntness, impatience and refusals are not hostility",
    "minimal_answer": "how many or how long is not open",
}


async def test_the_model_judge_is_told_each_flaw_as_a_coach_labels_it(transcripts, sarah, openai_analyses,
                                                                        fake_openai):
    fake_openai.reset("good", _answering(AUDIT))
    session = await _ended_call(transcripts)
    await openai_analyses.AuditSession(pb.AuditSessionRequest(session=session))
    system, _ = messages(fake_openai.bodies[-1])
    told = {line.split('"')[1]: line for line in system.splitlines() if line.startswith('- "')}
    assert {flaw: rule for flaw, rule in LABELLING_RULES.items() if rule not in told.get(flaw, "")} == {}


def _audit_with(**changes) -> dict:
    return {**AUDIT, **changes}


@pytest.mark.parametrize("answer", [
    _audit_with(scores={**AUDIT["scores"], "brevity": 11}),
    _audit_with(flagged_quotes=[{**AUDIT["flagged_quotes"][0], "sequence": 9}]),  # the candidate's message
    _audit_with(flagged_quotes=[{**AUDIT["flagged_quotes"][0], "sequence": 12}]),  # not in this call
    _audit_with(flagged_quotes=[{**AUDIT["flagged_quotes"][0], "reason": "too_eager"}]),
], ids=["score-11", "candidate-turn", "no-such-turn", "unknown-reason"])
async def test_an_invalid_audit_answer_falls_back_to_local(transcripts, sarah, openai_analyses, fake_openai, answer):
    fake_openai.reset("good", _answering(answer))
    counted = _fallbacks("invalid_answer")
    session = await _ended_call(transcripts)
    audit = (await openai_analyses.AuditSession(pb.AuditSessionRequest(session=session))).audit
    assert audit.engine == pb.ENGINE_LOCAL and audit.engine_fallback
    assert _fallbacks("invalid_answer") == counted + 1
    assert all(q.sequence in (2, 4, 6, 8, 10) for q in audit.flagged_quotes)
    assert 1 <= audit.scores.brevity <= 10


async def test_local_audits_can_still_be_asked_for(transcripts, sarah, openai_analyses, fake_openai):
    fake_openai.reset("good", _answering(AUDIT))
    before = fake_openai.requests
    session = await _ended_call(transcripts)
    audit = (await openai_analyses.AuditSession(pb.AuditSessionRequest(session=session,
                                                                       engine=pb.ENGINE_LOCAL))).audit
    assert audit.engine == pb.ENGINE_LOCAL and not audit.engine_fallback
    assert fake_openai.requests == before


async def test_a_slow_model_still_ends_in_an_audit_within_the_callers_deadline(
        database_url, engine, transcript_server, persona_server, transcripts, sarah, fake_openai):
    """The model is given what is left of the caller's deadline, not its own longer time limit."""
    settings = _settings(database_url, transcript_server, persona_server, fake_openai, openai_timeout_seconds=30,
                         openai_max_retries=0)
    fake_openai.reset("slow", _answering(AUDIT))
    fake_openai.slow_seconds = 10
    counted = _fallbacks("timeout")
    try:
        async with _serving_analysis(settings, engine) as (_, stub):
            session = await _ended_call(transcripts)
            audit = (await stub.AuditSession(pb.AuditSessionRequest(session=session), timeout=3)).audit
    finally:
        fake_openai.slow_seconds = 1.0
    assert audit.engine == pb.ENGINE_LOCAL and audit.engine_fallback
    assert _fallbacks("timeout") == counted + 1


async def test_a_slow_model_still_ends_in_an_analysis_within_the_callers_deadline(
        database_url, engine, transcript_server, persona_server, transcripts, fake_openai):
    """As for audits: the transcript outbox's call gets a stored (local) Say Meter, never a cancelled call."""
    settings = _settings(database_url, transcript_server, persona_server, fake_openai, openai_timeout_seconds=30,
                         openai_max_retries=0)
    fake_openai.reset("slow")
    fake_openai.slow_seconds = 10
    counted = _fallbacks("timeout")
    try:
        async with _serving_analysis(settings, engine) as (_, stub):
            session = await streamed_call(transcripts, CALL)
            analysis = (await stub.RequestAnalysis(pb.RequestAnalysisRequest(session=session, trigger_id="seq-10"),
                                                   timeout=3)).analysis
    finally:
        fake_openai.slow_seconds = 1.0
    assert analysis.engine == pb.ENGINE_LOCAL and analysis.engine_fallback
    assert _fallbacks("timeout") == counted + 1


def _refusal(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, list[str]]:
    """The code, ErrorInfo reason and BadRequest fields of an error."""
    return (error.code(), *reason_and_fields(error))


async def test_openai_audits_on_a_service_without_it_are_refused_as_analyses_are(
        database_url, engine, transcript_server, persona_server, transcripts, sarah, fake_openai):
    settings = _settings(database_url, transcript_server, persona_server, fake_openai, engine="local",
                         openai_base_url="")
    async with _serving_analysis(settings, engine) as (_, stub):
        session = await _ended_call(transcripts)
        with pytest.raises(grpc.aio.AioRpcError) as audit_refused:
            await stub.AuditSession(pb.AuditSessionRequest(session=session, engine=pb.ENGINE_OPENAI))
        with pytest.raises(grpc.aio.AioRpcError) as analysis_refused:
            await stub.RequestAnalysis(pb.RequestAnalysisRequest(session=session, trigger_id="seq-10",
                                                                 engine=pb.ENGINE_OPENAI))
        assert _refusal(audit_refused.value) == _refusal(analysis_refused.value) == (
            grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", ["engine"])
        assert "ANALYSIS_OPENAI_BASE_URL" in audit_refused.value.details()
        # Nothing was stored: the default engine still audits it.
        audit = (await stub.AuditSession(pb.AuditSessionRequest(session=session))).audit
        assert audit.engine == pb.ENGINE_LOCAL and not audit.engine_fallback


async def test_the_transcript_outbox_audit_uses_the_configured_engine(
        engine, transcripts, sarah, openai_server, openai_analyses, fake_openai, transcript_settings):
    from transcript_svc.app import build as build_transcript

    fake_openai.reset("good", _answering(AUDIT))
    # A transcript replica that hands its triggers and audits to the openai-configured analysis service.
    replica = await build_transcript(transcript_settings(analysis_address=openai_server), engine)
    await replica.start()
    try:
        async with secure_channel(replica.address) as channel:
            stub = transcript_service_pb2_grpc.TranscriptServiceStub(channel)
            session_name = await streamed_call(stub, CALL)
            watch = openai_analyses.WatchSession(pb.WatchSessionRequest(session=session_name))
            await watch.read()  # the snapshot
            await stub.EndSession(transcript_pb.EndSessionRequest(name=session_name))
            while not (event := await watch.read()).HasField("audit"):
                pass  # analyses the session's triggers asked for
            watch.cancel()
    finally:
        await replica.stop(grace=1)
    assert event.audit.engine == pb.ENGINE_OPENAI and not event.audit.engine_fallback
    assert event.audit.scores.pacing == AUDIT["scores"]["pacing"]
