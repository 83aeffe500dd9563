"""The analysis service's use cases on in-memory ports: what they store, announce, send and refuse."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from analysis_svc.domain.model import Judgement
from analysis_svc.domain.say_meter import Band, SayMeter
from analysis_svc.domain.suggestions import Priority, Suggestion, SuggestionType
from analysis_svc.service_layer.analyses import Analyses
from analysis_svc.service_layer.audits import Audits
from analysis_svc.service_layer.engines import Engines
from analysis_svc.service_layer.suggestion_actions import SuggestionActions
from calls.persona_audit import AuditScores, PersonaAudit, PersonaProfile, WordRange
from calls.turns import Role, Turn
from svckit.errors import FailedPrecondition
from svckit.openai_json import INVALID_ANSWER
from svckit.pagination import PageTokens
from svckit.usecase import Mutation
from tests.builders import caller
from tests.unit.analysis_fakes import (
    FailingAuditEngine,
    FakeAnalysisEngine,
    FakeAuditEngine,
    FakeCommands,
    FakeDatabase,
    FakePersonas,
    FakeTranscripts,
)

CALL = [
    Turn(1, Role.USER, "What prompted you to look at cost reduction this quarter?"),
    Turn(2, Role.ASSISTANT, "Our cloud spend grew forty percent."),
    Turn(3, Role.USER, "How is that affecting your team day to day?"),
    Turn(4, Role.ASSISTANT, "Hours every week reconciling invoices."),
]
CURVEBALL = Suggestion(SuggestionType.CURVEBALL, "Mention a competitor's lower quote.", Priority.HIGH, "competitor")
FOLLOWUP = Suggestion(SuggestionType.FOLLOWUP_QUESTION, "Ask who signs off.", Priority.MEDIUM, "decision process")
JUDGEMENT = Judgement(SayMeter(72, Band.YELLOW, {"rapport": 70}, {"rapport": 100}, "Good discovery."),
                      [CURVEBALL, FOLLOWUP])
SARAH = PersonaProfile(archetype="owl", difficulty=3)


def _audit(overall: float) -> PersonaAudit:
    return PersonaAudit("owl", 3, AuditScores(7, 7, 7, 7, 7), overall, 6.0, WordRange(10, 30), 2, (), ())


LOCAL_AUDIT, MODEL_AUDIT = _audit(7.0), _audit(9.0)


def _mutation(request_id: str = "", fingerprint: str = "") -> Mutation:
    return Mutation(caller(), request_id, fingerprint)


@pytest.fixture
def database() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def transcripts() -> FakeTranscripts:
    return FakeTranscripts(CALL)


@pytest.fixture
def engine() -> FakeAnalysisEngine:
    return FakeAnalysisEngine("local", JUDGEMENT)


@pytest.fixture
def analyses(database, transcripts, engine) -> Analyses:
    return Analyses(database, transcripts, PageTokens.from_secret("test"), Engines(engine, {}))


def _audits(database: FakeDatabase, model_engine) -> Audits:
    return Audits(database, FakeTranscripts(CALL), FakePersonas(SARAH), PageTokens.from_secret("test"),
                  Engines(FakeAuditEngine("local", LOCAL_AUDIT), {"openai": model_engine}, default="openai"))


async def test_a_requested_analysis_is_stored_with_its_suggestions_and_announced(analyses, database):
    stored, duplicate = await analyses.request_analysis("call-1", 4, "seq-4", "message_count", 0)
    assert not duplicate
    assert (stored.session_id, stored.trigger_id, stored.up_to_sequence) == ("call-1", "seq-4", 4)
    assert (stored.window_first, stored.window_last, stored.window_count) == (1, 4, 4)
    assert stored.say_meter == JUDGEMENT.say_meter and stored.engine == "local" and not stored.engine_fallback
    assert [s.suggestion for s in stored.suggestions] == [CURVEBALL, FOLLOWUP]
    assert [s.position for s in stored.suggestions] == [1, 2]
    assert database.commits == 1 and database.announced == [f"call-1:{stored.id}"]
    assert await analyses.get_analysis("call-1", stored.id) == stored


async def test_a_repeated_trigger_returns_the_stored_analysis_without_judging_again(
        analyses, database, transcripts, engine):
    first, _ = await analyses.request_analysis("call-1", 4, "seq-4", "message_count", 0)
    again, duplicate = await analyses.request_analysis("call-1", 4, "seq-4", "message_count", 0)
    assert duplicate and again == first
    assert engine.judged == 1 and transcripts.windows_read == 1
    assert database.commits == 1 and len(database.announced) == 1


async def test_an_audit_is_the_chosen_engines_and_stored_once(database):
    audits = _audits(database, FakeAuditEngine("openai", MODEL_AUDIT))
    stored, duplicate = await audits.audit_session("call-1")
    assert not duplicate
    assert (stored.audit, stored.engine, stored.engine_fallback) == (MODEL_AUDIT, "openai", False)
    assert (stored.persona, stored.delivery_state) == ("personas/sarah-chen", "pending")
    assert database.announced == [f"call-1:audit:{stored.id}"]
    again, duplicate = await audits.audit_session("call-1", engine="local")
    assert duplicate and again == stored


async def test_an_audit_whose_engine_fails_is_the_local_one_counted_as_a_fallback(database):
    def fallbacks() -> float:
        return REGISTRY.get_sample_value("sparring_analysis_engine_fallbacks_total", {"reason": INVALID_ANSWER}) or 0

    before = fallbacks()
    stored, _ = await _audits(database, FailingAuditEngine("openai")).audit_session("call-1")
    assert (stored.audit, stored.engine, stored.engine_fallback) == (LOCAL_AUDIT, "local", True)
    assert fallbacks() == before + 1


async def test_an_applied_suggestion_becomes_one_command_on_the_call_however_often_it_is_retried(analyses, database):
    stored, _ = await analyses.request_analysis("call-1", 4, "seq-4", "message_count", 0)
    curveball = stored.suggestions[0]
    commands = FakeCommands()
    actions = SuggestionActions(database, commands)
    applied = await actions.apply("call-1", curveball.id, curveball.etag, _mutation("apply-1", "a"))
    retried = await actions.apply("call-1", curveball.id, curveball.etag, _mutation("apply-1", "a"))
    assert applied.state == "applied" and applied.command == "sessions/call-1/commands/1"
    assert retried == applied
    assert commands.sent == [(f"sessions/call-1/suggestions/{curveball.id}", CURVEBALL)]
    assert database.announced[-1] == f"call-1:suggestion:{curveball.id}"


async def test_a_question_for_the_candidate_is_refused_as_a_command_and_a_dismissed_one_stays_dismissed(
        analyses, database):
    stored, _ = await analyses.request_analysis("call-1", 4, "seq-4", "message_count", 0)
    curveball, followup = stored.suggestions
    commands = FakeCommands()
    actions = SuggestionActions(database, commands)
    with pytest.raises(FailedPrecondition) as refused:
        await actions.apply("call-1", followup.id, "", _mutation())
    assert refused.value.reason == "SUGGESTION_NOT_APPLICABLE"
    dismissed = await actions.dismiss("call-1", curveball.id, "", "not now", _mutation())
    assert (dismissed.state, dismissed.dismiss_reason) == ("dismissed", "not now")
    with pytest.raises(FailedPrecondition) as refused:
        await actions.apply("call-1", curveball.id, "", _mutation())
    assert refused.value.reason == "SUGGESTION_DISMISSED"
    assert commands.sent == []
