"""The analysis service's use cases on in-memory ports: what they store, announce, send and refuse."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from analysis_svc.domain.conversation import measure
from analysis_svc.domain.interviewer_texts import SPANISH
from analysis_svc.domain.model import Judgement, metrics_record
from analysis_svc.domain.say_meter import Band, SayMeter
from analysis_svc.domain.suggestions import CallContext, Priority, Suggestion, SuggestionType
from analysis_svc.domain.trend import LOSING_PROSPECT
from analysis_svc.service_layer.analyses import Analyses
from analysis_svc.service_layer.audits import Audits
from analysis_svc.service_layer.engines import Engines
from analysis_svc.service_layer.session_access import SessionAccess
from analysis_svc.service_layer.suggestion_actions import SuggestionActions
from calls.persona_audit import AuditScores, PersonaAudit, PersonaProfile, WordRange
from calls.turns import Role, Turn
from svckit.errors import FailedPrecondition, NotFound, PermissionDenied
from svckit.openai_json import INVALID_ANSWER
from svckit.pagination import PageTokens
from svckit.usecase import Mutation
from tests.builders import caller
from tests.unit.analysis_fakes import (
    FailingAuditEngine,
    FakeAnalysisEngine,
    FakeAuditEngine,
    FakeCallContexts,
    FakeCommands,
    FakeDatabase,
    FakePersonas,
    FakeSessionDirectory,
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


ADMIN = caller("admin").principal


def _mutation(request_id: str = "", fingerprint: str = "") -> Mutation:
    return Mutation(caller("admin"), request_id, fingerprint)


@pytest.fixture
def database() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def directory() -> FakeSessionDirectory:
    return FakeSessionDirectory({("acme", "call-1"): "interviewer@acme"})


@pytest.fixture
def transcripts() -> FakeTranscripts:
    return FakeTranscripts(CALL)


@pytest.fixture
def engine() -> FakeAnalysisEngine:
    return FakeAnalysisEngine("local", JUDGEMENT)


@pytest.fixture
def analyses(database, transcripts, engine, directory) -> Analyses:
    return Analyses(database, transcripts, PageTokens.from_secret("test"), Engines(engine, {}),
                    SessionAccess(directory), FakeCallContexts())


@pytest.fixture
def actions(database, directory) -> SuggestionActions:
    return SuggestionActions(database, FakeCommands(), SessionAccess(directory))


def _audits(database: FakeDatabase, model_engine, analyses: Analyses) -> Audits:
    return Audits(database, FakeTranscripts(CALL), FakePersonas(SARAH), PageTokens.from_secret("test"),
                  Engines(FakeAuditEngine("local", LOCAL_AUDIT), {"openai": model_engine}, default="openai"), analyses)


async def test_a_requested_analysis_is_stored_with_its_suggestions_and_announced(analyses, database):
    stored, duplicate = await analyses.request_analysis(ADMIN, "call-1", 4, "seq-4", "message_count", 0)
    assert not duplicate
    assert (stored.session_id, stored.trigger_id, stored.up_to_sequence) == ("call-1", "seq-4", 4)
    assert (stored.window_first, stored.window_last, stored.window_count) == (1, 4, 4)
    assert stored.say_meter == JUDGEMENT.say_meter and stored.engine == "local" and not stored.engine_fallback
    assert [s.suggestion for s in stored.suggestions] == [CURVEBALL, FOLLOWUP]
    assert [s.position for s in stored.suggestions] == [1, 2]
    assert database.commits == 1 and database.announced == [f"acme/call-1:{stored.id}"]
    assert await analyses.get_analysis(ADMIN, "call-1", stored.id) == stored


async def test_a_repeated_trigger_returns_the_stored_analysis_without_judging_again(
        analyses, database, transcripts, engine):
    first, _ = await analyses.request_analysis(ADMIN, "call-1", 4, "seq-4", "message_count", 0)
    again, duplicate = await analyses.request_analysis(ADMIN, "call-1", 4, "seq-4", "message_count", 0)
    assert duplicate and again == first
    assert engine.judged == 1 and transcripts.windows_read == 1
    assert database.commits == 1 and len(database.announced) == 1


async def test_each_reading_measures_the_whole_call_so_far_and_shows_the_engine_its_window(
        analyses, transcripts, engine):
    await analyses.request_analysis(ADMIN, "call-1", 2, "seq-2", "message_count", 2)
    later, _ = await analyses.request_analysis(ADMIN, "call-1", 4, "seq-4", "message_count", 2)
    assert (later.window_first, later.window_count) == (3, 2)
    assert [turn.sequence for turn in engine.windows[-1].turns] == [3, 4]
    assert later.metrics == metrics_record(measure(CALL))
    assert transcripts.windows_read == 2  # the second window reached back to the first reading: no catch-up read


async def test_a_reading_whose_predecessors_are_missing_reads_back_to_the_calls_start(analyses, transcripts):
    stored, _ = await analyses.request_analysis(ADMIN, "call-1", 4, "seq-4", "message_count", 2)
    assert stored.window_count == 2 and stored.metrics == metrics_record(measure(CALL))
    assert transcripts.windows_read == 2


async def test_an_audit_is_the_chosen_engines_and_stored_once_after_the_final_reading(database, analyses):
    audits = _audits(database, FakeAuditEngine("openai", MODEL_AUDIT), analyses)
    stored, duplicate = await audits.audit_session(ADMIN, "call-1")
    assert not duplicate
    assert (stored.audit, stored.engine, stored.engine_fallback) == (MODEL_AUDIT, "openai", False)
    assert (stored.persona, stored.delivery_state) == ("personas/sarah-chen", "pending")
    final = (await analyses.list_analyses(ADMIN, "call-1", "session_end", 0, "")).items
    assert [(a.trigger_id, a.up_to_sequence, a.window_count) for a in final] == [("session-end", 4, 4)]
    assert database.announced == [f"acme/call-1:{final[0].id}", f"acme/call-1:audit:{stored.id}"]
    assert (await analyses.snapshot(ADMIN, "call-1")).final_reading
    again, duplicate = await audits.audit_session(ADMIN, "call-1", engine="local")
    assert duplicate and again == stored
    assert len(database.announced) == 2


async def test_an_audit_whose_engine_fails_is_the_local_one_counted_as_a_fallback(database, analyses):
    def fallbacks() -> float:
        return REGISTRY.get_sample_value("sparring_analysis_engine_fallbacks_total", {"reason": INVALID_ANSWER}) or 0

    before = fallbacks()
    stored, _ = await _audits(database, FailingAuditEngine("openai"), analyses).audit_session(ADMIN, "call-1")
    assert (stored.audit, stored.engine, stored.engine_fallback) == (LOCAL_AUDIT, "local", True)
    assert fallbacks() == before + 1


async def test_no_engine_raises_a_suggestion_the_session_has_had_and_each_is_told_what_it_had(
        database, transcripts, engine, directory):
    context = CallContext(objection_patterns=("Too expensive.",))
    analyses = Analyses(database, transcripts, PageTokens.from_secret("test"), Engines(engine, {}),
                        SessionAccess(directory), FakeCallContexts(context))
    first, _ = await analyses.request_analysis(ADMIN, "call-1", 2, "seq-2", "message_count", 0)
    again, _ = await analyses.request_analysis(ADMIN, "call-1", 4, "seq-4", "message_count", 0)
    assert [s.suggestion for s in first.suggestions] == [CURVEBALL, FOLLOWUP] and not again.suggestions
    assert [(w.made, w.context) for w in engine.windows] == [
        (frozenset(), context), (frozenset({CURVEBALL.label, FOLLOWUP.label}), context)]


async def test_an_applied_suggestion_becomes_one_command_on_the_call_however_often_it_is_retried(
        analyses, database, directory):
    stored, _ = await analyses.request_analysis(ADMIN, "call-1", 4, "seq-4", "message_count", 0)
    curveball = stored.suggestions[0]
    commands = FakeCommands()
    actions = SuggestionActions(database, commands, SessionAccess(directory))
    applied = await actions.apply("call-1", curveball.id, curveball.etag, _mutation("apply-1", "a"))
    retried = await actions.apply("call-1", curveball.id, curveball.etag, _mutation("apply-1", "a"))
    assert applied.state == "applied" and applied.command == "sessions/call-1/commands/1"
    assert retried == applied
    assert commands.sent == [(f"sessions/call-1/suggestions/{curveball.id}", CURVEBALL)]
    assert database.announced[-1] == f"acme/call-1:suggestion:{curveball.id}"


async def test_a_question_for_the_candidate_is_refused_as_a_command_and_a_dismissed_one_stays_dismissed(
        analyses, database, directory):
    stored, _ = await analyses.request_analysis(ADMIN, "call-1", 4, "seq-4", "message_count", 0)
    curveball, followup = stored.suggestions
    commands = FakeCommands()
    actions = SuggestionActions(database, commands, SessionAccess(directory))
    with pytest.raises(FailedPrecondition) as refused:
        await actions.apply("call-1", followup.id, "", _mutation())
    assert refused.value.reason == "SUGGESTION_NOT_APPLICABLE"
    dismissed = await actions.dismiss("call-1", curveball.id, "", "not now", _mutation())
    assert (dismissed.state, dismissed.dismiss_reason) == ("dismissed", "not now")
    with pytest.raises(FailedPrecondition) as refused:
        await actions.apply("call-1", curveball.id, "", _mutation())
    assert refused.value.reason == "SUGGESTION_DISMISSED"
    assert commands.sent == []


# Tenancy and per-session access: every caller below is of "acme", whose session "call-1" interviewer@acme runs,
# unless it says otherwise.
INTERVIEWER = caller("interviewer", subject="interviewer@acme").principal
OTHER_INTERVIEWER = caller("interviewer", subject="someone-else@acme").principal
ANALYST = caller("analyst").principal
OUTSIDER = caller("admin", organization="globex").principal
UNANCHORED_SERVICE = caller("service", subject="service:transcript", organization="").principal


async def _refused(call, error_type: type[Exception]) -> Exception:
    with pytest.raises(error_type) as raised:
        await call
    return raised.value


async def test_another_organizations_analyses_and_suggestions_are_not_found_exactly_as_missing_ones(analyses):
    stored, _ = await analyses.request_analysis(ADMIN, "call-1", 4, "seq-4", "message_count", 0)
    for read, existing in ((analyses.get_analysis, stored.id), (analyses.get_suggestion, stored.suggestions[0].id)):
        hidden = await _refused(read(OUTSIDER, "call-1", existing), NotFound)
        absent = await _refused(read(ADMIN, "call-1", "no-such-id"), NotFound)
        assert hidden.reason == absent.reason
        assert (str(hidden), hidden.metadata) == (str(absent).replace("no-such-id", existing),
                                                  {"resource": absent.metadata["resource"].replace("no-such-id",
                                                                                                   existing)})
    assert (await analyses.list_analyses(OUTSIDER, "call-1", None, 0, "")).items == []
    assert (await analyses.list_suggestions(OUTSIDER, "call-1", {}, 0, "")).items == []
    snapshot = await analyses.snapshot(OUTSIDER, "call-1")
    assert (snapshot.latest, snapshot.history, snapshot.open_suggestions) == (None, [], [])


async def test_two_organizations_each_hold_a_session_of_the_same_id_and_trigger(analyses, database, transcripts):
    ours, _ = await analyses.request_analysis(ADMIN, "call-1", 4, "seq-4", "message_count", 0)
    theirs, duplicate = await analyses.request_analysis(OUTSIDER, "call-1", 4, "seq-4", "message_count", 0)
    assert not duplicate and theirs.id != ours.id
    assert database.announced == [f"acme/call-1:{ours.id}", f"globex/call-1:{theirs.id}"]
    assert transcripts.read_for == ["acme", "globex"]  # each window read on behalf of the session's organization
    assert [a.id for a in (await analyses.list_analyses(OUTSIDER, "call-1", None, 0, "")).items] == [theirs.id]


async def test_a_service_acting_for_no_organization_creates_nothing_and_sees_nothing(analyses, database):
    await analyses.request_analysis(ADMIN, "call-1", 4, "seq-4", "message_count", 0)
    refused = await _refused(analyses.request_analysis(UNANCHORED_SERVICE, "call-1", 4, "seq-5", "message_count", 0),
                             FailedPrecondition)
    assert refused.reason == "ORGANIZATION_REQUIRED"
    refused = await _refused(_audits(database, FakeAuditEngine("openai", MODEL_AUDIT), analyses).audit_session(
        UNANCHORED_SERVICE, "call-1"), FailedPrecondition)
    assert refused.reason == "ORGANIZATION_REQUIRED"
    assert (await analyses.list_analyses(UNANCHORED_SERVICE, "call-1", None, 0, "")).items == []
    assert database.commits == 1


async def test_audits_belong_to_the_organization_of_the_session(database, analyses):
    audits = _audits(database, FakeAuditEngine("openai", MODEL_AUDIT), analyses)
    ours, _ = await audits.audit_session(ADMIN, "call-1")
    theirs, duplicate = await audits.audit_session(OUTSIDER, "call-1")
    assert not duplicate and theirs.id != ours.id
    hidden = await _refused(audits.get("globex", ours.id), NotFound)
    absent = await _refused(audits.get("globex", "no-such-audit"), NotFound)
    assert hidden.reason == absent.reason == "AUDIT_NOT_FOUND"
    assert [a.id for a in (await audits.list("acme", {}, 0, "")).items] == [ours.id]


async def test_only_the_sessions_interviewer_among_interviewers_reads_applies_and_watches(analyses, actions):
    stored, _ = await analyses.request_analysis(INTERVIEWER, "call-1", 4, "seq-4", "message_count", 0)
    curveball = stored.suggestions[0]
    assert await analyses.get_analysis(INTERVIEWER, "call-1", stored.id) == stored
    await analyses.admit_watcher(INTERVIEWER, "call-1")
    for refused_call in (analyses.get_analysis(OTHER_INTERVIEWER, "call-1", stored.id),
                         analyses.get_suggestion(OTHER_INTERVIEWER, "call-1", curveball.id),
                         analyses.list_analyses(OTHER_INTERVIEWER, "call-1", None, 0, ""),
                         analyses.list_suggestions(OTHER_INTERVIEWER, "call-1", {}, 0, ""),
                         analyses.snapshot(OTHER_INTERVIEWER, "call-1"),
                         analyses.admit_watcher(OTHER_INTERVIEWER, "call-1"),
                         analyses.request_analysis(OTHER_INTERVIEWER, "call-1", 4, "seq-9", "message_count", 0),
                         actions.apply("call-1", curveball.id, "", Mutation(caller("interviewer",
                                                                                   subject="someone-else@acme")))):
        assert (await _refused(refused_call, PermissionDenied)).reason == "NOT_A_PARTICIPANT"
    applied = await actions.apply("call-1", curveball.id, "", Mutation(caller("interviewer",
                                                                              subject="interviewer@acme")))
    assert applied.state == "applied"


async def test_analysts_read_every_session_but_neither_watch_nor_act(analyses, actions):
    stored, _ = await analyses.request_analysis(ADMIN, "call-1", 4, "seq-4", "message_count", 0)
    assert (await analyses.snapshot(ANALYST, "call-1")).latest == stored
    assert (await _refused(analyses.admit_watcher(ANALYST, "call-1"), PermissionDenied)).reason == "NOT_A_PARTICIPANT"
    refused = await _refused(actions.dismiss("call-1", stored.suggestions[0].id, "", "", Mutation(caller("analyst"))),
                             PermissionDenied)
    assert refused.reason == "NOT_A_PARTICIPANT"


async def test_watching_another_organizations_session_is_not_found_even_for_its_admins(analyses):
    assert (await _refused(analyses.admit_watcher(OUTSIDER, "call-1"), NotFound)).reason == "SESSION_NOT_FOUND"


async def test_request_ids_and_commands_are_the_organizations_own(database, engine):
    directory = FakeSessionDirectory({("acme", "call-1"): "", ("globex", "call-1"): ""})
    analyses = Analyses(database, FakeTranscripts(CALL), PageTokens.from_secret("test"), Engines(engine, {}),
                        SessionAccess(directory), FakeCallContexts())
    commands = FakeCommands()
    actions = SuggestionActions(database, commands, SessionAccess(directory))
    ours, _ = await analyses.request_analysis(ADMIN, "call-1", 4, "seq-4", "message_count", 0)
    theirs, _ = await analyses.request_analysis(OUTSIDER, "call-1", 4, "seq-4", "message_count", 0)
    # The same request id in two organizations: two requests, neither the other's retry nor refused as a reuse.
    applied_here = await actions.apply("call-1", ours.suggestions[0].id, "", _mutation("apply-1", "a"))
    applied_there = await actions.apply("call-1", theirs.suggestions[0].id, "",
                                        Mutation(caller("admin", organization="globex"), "apply-1", "b"))
    assert (applied_here.id, applied_there.id) == (ours.suggestions[0].id, theirs.suggestions[0].id)
    assert commands.sent_for == ["acme", "globex"]
    hidden = await _refused(actions.dismiss("call-1", ours.suggestions[1].id, "", "", Mutation(
        caller("admin", organization="globex"))), NotFound)
    assert hidden.reason == "SUGGESTION_NOT_FOUND"


def _lookups(cache: str, result: str) -> float:
    return REGISTRY.get_sample_value("sparring_cache_lookups_total", {"cache": cache, "result": result}) or 0.0


async def test_a_calls_language_is_detected_until_a_reading_settles_it_then_kept(database, engine, directory):
    greeting = [Turn(1, Role.USER, "Hola, hi"), Turn(2, Role.ASSISTANT, "Hi!")]
    call = [*greeting, *(Turn(turn.sequence + 2, turn.role, turn.text) for turn in CALL)]
    analyses = Analyses(database, FakeTranscripts(call), PageTokens.from_secret("test"), Engines(engine, {}),
                        SessionAccess(directory), FakeCallContexts())
    readings = []
    for sequence in (2, 4, 6):
        hits = _lookups("call_languages", "hit")
        stored, _ = await analyses.request_analysis(ADMIN, "call-1", sequence, f"seq-{sequence}", "message_count", 0)
        readings.append((stored.language, _lookups("call_languages", "hit") - hits))
    # Undetermined after the greeting, settled at the next reading; the third takes the settled one.
    assert readings == [("", 0), ("en", 0), ("en", 1)]


async def test_a_tracks_tally_kept_before_the_calls_language_settled_is_tallied_again_in_its_own(
        database, engine, directory):
    # Too few letters to tell the language at the first reading: read with the English phrases, which miss "aislamos".
    call = [Turn(1, Role.ASSISTANT, "¿Y?"), Turn(2, Role.USER, "Lo aislamos."),
            Turn(3, Role.ASSISTANT, "¿Qué hicieron después con las claves y con los registros del servidor?"),
            Turn(4, Role.USER, "Luego rotamos todas las claves y conservamos los logs para el análisis forense.")]
    analyses = Analyses(database, FakeTranscripts(call, blueprint="security"), PageTokens.from_secret("test"),
                        Engines(engine, {}), SessionAccess(directory), FakeCallContexts())

    first, _ = await analyses.request_analysis(ADMIN, "call-1", 2, "seq-2", "message_count", 0)
    second, _ = await analyses.request_analysis(ADMIN, "call-1", 4, "seq-4", "message_count", 0)

    before, after = database.analyses.call_tallies[first.id], database.analyses.call_tallies[second.id]
    assert (first.language, before.language, "response:contain" in before.kinds) == ("", "en", False)
    # The window reaches back to the call's start: all of it is tallied again with the Spanish phrases.
    assert (second.language, after.language) == ("es", "es")
    assert {"response:contain", "response:eradicate", "response:evidence"} <= after.kinds
    assert after.count("answers") == 2


async def test_a_spanish_calls_losing_the_prospect_alert_says_why_in_spanish(database, engine, directory):
    call = [Turn(1, Role.USER, "Buenos días, le llamo de Fibranet para ofrecerle nuestra fibra con descuento."),
            Turn(2, Role.ASSISTANT, "No me interesa, gracias."),
            Turn(3, Role.USER, "Solo serán dos minutitos, de verdad, la oferta solo vale hasta hoy."),
            Turn(4, Role.ASSISTANT, "Ya le he dicho que no, buenos días."),
            Turn(5, Role.USER, "Espere, no cuelgue, solo serán dos minutitos, la oferta solo vale hasta hoy."),
            Turn(6, Role.ASSISTANT, "Que no, gracias, no me interesa."),
            Turn(7, Role.USER, "De verdad, es solo un minuto, no se arrepentirá, la oferta solo vale hasta hoy."),
            Turn(8, Role.ASSISTANT, "Le repito que no me interesa. Adiós.")]
    analyses = Analyses(database, FakeTranscripts(call), PageTokens.from_secret("test"), Engines(engine, {}),
                        SessionAccess(directory), FakeCallContexts())

    stored, _ = await analyses.request_analysis(ADMIN, "call-1", 8, "seq-8", "message_count", 0)

    # Every buyer no and every push after one takes its points off the meter's score (a projection stops at 0): enough
    # of them that the alert holds whatever points its refit gives each.
    score = stored.say_meter.score
    noes = SPANISH.templates["alert_refusals"].format(times=SPANISH.templates["times"].format(count=4))
    push = SPANISH.templates["alert_pressure"].format(times=SPANISH.templates["times"].format(count=3))
    projection = max(0, score - 4 * LOSING_PROSPECT.refusal_points - 3 * LOSING_PROSPECT.pressure_points)
    assert (stored.language, stored.losing_prospect.active) == ("es", True)
    assert stored.losing_prospect.reason == SPANISH.templates["alert"].format(score=score, projection=projection,
                                                                              why=f"{noes}, {push}")


async def test_a_sessions_next_reading_reads_only_its_new_messages_and_another_organizations_reads_its_own(analyses):
    found = []
    for principal, sequence in ((ADMIN, 2), (ADMIN, 4), (OUTSIDER, 4)):
        hits, misses = _lookups("read_turns", "hit"), _lookups("read_turns", "miss")
        await analyses.request_analysis(principal, "call-1", sequence, f"seq-{sequence}", "message_count", 0)
        found.append((_lookups("read_turns", "hit") - hits, _lookups("read_turns", "miss") - misses))
    # The first reading reads its window; the second finds it read; the other organization's session of the same id
    # finds nothing of it.
    assert found == [(0, 1), (1, 0), (0, 1)]
