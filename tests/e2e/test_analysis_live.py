"""Live analyses end to end: the transcript service's trigger reaches the analysis service, which reads the
window back, scores it and stores the reading."""

from __future__ import annotations

import asyncio

import grpc
import pytest
import sqlalchemy as sa
from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.analysis.v1 import analysis_service_pb2_grpc
from sparring.audit.v1 import audit_pb2
from sparring.learning.v1 import learning_service_pb2 as learning_pb
from sparring.learning.v1 import learning_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb

from analysis_svc.adapters.call_contexts import CallContexts
from analysis_svc.adapters.local_engine import LocalEngine
from analysis_svc.adapters.session_directory import SessionDirectory
from analysis_svc.adapters.transcript_reader import TranscriptReader
from analysis_svc.adapters.unit_of_work import AnalysisDatabase
from analysis_svc.app import build as build_analysis
from analysis_svc.config import AnalysisSettings
from analysis_svc.domain.conversation import measure
from analysis_svc.domain.say_meter import YELLOW_FROM, score
from analysis_svc.service_layer.analyses import Analyses
from analysis_svc.service_layer.engines import Engines
from analysis_svc.service_layer.session_access import SessionAccess
from calls.job_tracks import Blueprint
from calls.turns import Role, Turn
from svckit.context import current_call
from svckit.pagination import PageTokens
from svckit.server import GrpcApp
from tests.builders import caller, uid
from tests.e2e.transcript_checks import session_id as session_id_of
from tests.e2e.transcript_fixtures import new_session, streamed_call
from tests.security import ORGANIZATION, secure_channel, security, service_link

USER, PERSONA = transcript_pb.ROLE_USER, transcript_pb.ROLE_ASSISTANT
ADMIN = caller("admin", organization=ORGANIZATION).principal
CALL = [
    (USER, "Thanks for making time today. What prompted you to look at cost reduction this quarter?"),
    (PERSONA, "Our cloud spend grew forty percent and the board wants it under control."),
    (USER, "That sounds painful. How is that affecting your team day to day?"),
    (PERSONA, "We spend hours every week reconciling invoices by hand."),
    (USER, "What budget have you set aside to fix this, and who signs off?"),
    (PERSONA, "Around eighty thousand a year, and the CFO approves anything above fifty."),
    (USER, "When do you need a solution in place?"),
    (PERSONA, "By the end of Q3. Honestly, that sounds too expensive for us."),
    (USER, "I understand the concern. Customers like you cut spend by a quarter, so it pays for itself."),
    (PERSONA, "Alright, send me a proposal and let's meet again on Tuesday."),
]


async def test_a_window_is_scored_stored_and_read_back(transcripts, analyses):
    session = await streamed_call(transcripts, CALL)
    reply = await analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session, up_to_sequence=10,
                                                                     trigger_id="seq-10"))
    analysis = reply.analysis
    assert not reply.duplicate
    assert analysis.window.first_sequence == 1 and analysis.window.last_sequence == 10
    meter = analysis.say_meter
    # The local engine's reading of the call: a good discovery call, short of pain being explored in depth.
    said = [Turn(n, Role.USER if role == USER else Role.ASSISTANT, text) for n, (role, text) in enumerate(CALL, 1)]
    assert meter.score == score(measure(said), Blueprint.SALES).score >= YELLOW_FROM
    assert meter.band == (pb.SCORE_BAND_GREEN if meter.score >= 80 else pb.SCORE_BAND_YELLOW)
    assert analysis.metrics.budget_covered and analysis.metrics.timeline_covered
    assert analysis.metrics.objections_raised >= 1
    assert analysis.say_meter.reasoning

    again = await analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session, up_to_sequence=10,
                                                                     trigger_id="seq-10"))
    assert again.duplicate and again.analysis.name == analysis.name
    assert (await analyses.GetAnalysis(pb.GetAnalysisRequest(name=analysis.name))).analysis == analysis
    listed = await analyses.ListAnalyses(pb.ListAnalysesRequest(parent=session))
    assert [a.name for a in listed.analyses] == [analysis.name]
    snapshot = (await analyses.GetSessionSnapshot(pb.GetSessionSnapshotRequest(session=session))).snapshot
    assert snapshot.latest_analysis.name == analysis.name and snapshot.analysis_count == 1
    assert [p.score for p in snapshot.score_history] == [analysis.say_meter.score]
    assert [s.name for s in snapshot.open_suggestions] == [s.name for s in analysis.suggestions]


@pytest.mark.parametrize(
    ("request_fields", "code"),
    [
        ({"session": "sessions/no-such-call", "trigger_id": "seq-10"}, grpc.StatusCode.NOT_FOUND),
        ({"session": "not-a-name", "trigger_id": "seq-10"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"trigger_id": ""}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"trigger_id": "t", "up_to_sequence": 99}, grpc.StatusCode.FAILED_PRECONDITION),
        ({"trigger_id": "t", "window_size": 500}, grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
async def test_bad_requests_get_clear_statuses(transcripts, analyses, request_fields, code):
    session = await streamed_call(transcripts, CALL)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await analyses.RequestAnalysis(pb.RequestAnalysisRequest(**{"session": session, **request_fields}))
    assert raised.value.code() == code


async def test_a_session_without_messages_has_nothing_to_analyse(transcripts, analyses):
    session = await new_session(transcripts)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session.name, trigger_id="seq-0"))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    snapshot = (await analyses.GetSessionSnapshot(pb.GetSessionSnapshotRequest(session=session.name))).snapshot
    assert snapshot.analysis_count == 0 and not snapshot.HasField("latest_analysis")


async def _second_analysis_replica(database_url, engine, transcript_server):
    app = await build_analysis(AnalysisSettings(database_url=database_url, grpc_port=0, metrics_port=0,
                                                transcript_address=transcript_server), engine)
    await app.start()
    return app


async def test_watchers_get_a_snapshot_then_each_analysis_from_any_replica(
        database_url, engine, transcript_server, transcripts, analyses):
    session = await streamed_call(transcripts, CALL)
    first = (await analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session, up_to_sequence=5,
                                                                      trigger_id="seq-5"))).analysis
    watch = analyses.WatchSession(pb.WatchSessionRequest(session=session))
    snapshot = (await watch.read()).snapshot
    assert snapshot.latest_analysis.name == first.name and not snapshot.resync

    other = await _second_analysis_replica(database_url, engine, transcript_server)
    try:
        async with secure_channel(other.address) as channel:
            stub = analysis_service_pb2_grpc.AnalysisServiceStub(channel)
            second = (await stub.RequestAnalysis(pb.RequestAnalysisRequest(session=session, up_to_sequence=10,
                                                                           trigger_id="seq-10"))).analysis
            event = await watch.read()
            assert event.analysis.name == second.name
            assert event.analysis.say_meter == second.say_meter
    finally:
        watch.cancel()
        await other.stop(grace=1)


async def _analysis_up_to(analyses, session: str, sequence: int, trigger_id: str = "",
                          source=pb.TRIGGER_SOURCE_MESSAGE_COUNT) -> pb.Analysis:
    return (await analyses.RequestAnalysis(pb.RequestAnalysisRequest(
        session=session, up_to_sequence=sequence, trigger_id=trigger_id or f"seq-{sequence}",
        source=source))).analysis


async def test_analyses_follow_the_call_whatever_order_they_finish_in(transcripts, analyses):
    session = await streamed_call(transcripts, CALL)
    watch = analyses.WatchSession(pb.WatchSessionRequest(session=session))
    await watch.read()  # the snapshot
    newer = await _analysis_up_to(analyses, session, 10)
    assert (await watch.read()).analysis.name == newer.name
    older = await _analysis_up_to(analyses, session, 5)  # finishes after the newer one

    # The watcher's meter does not go back: the late analysis arrives in a fresh snapshot, at its place.
    resynced = (await watch.read()).snapshot
    assert resynced.resync and resynced.latest_analysis.name == newer.name
    assert [p.analysis for p in resynced.score_history] == [older.name, newer.name]
    assert {s.name for s in older.suggestions} <= {s.name for s in resynced.open_suggestions}
    again = await _analysis_up_to(analyses, session, 10, "manual-10", pb.TRIGGER_SOURCE_MANUAL)
    assert (await watch.read()).analysis.name == again.name  # a reading of the same point moves it on
    watch.cancel()

    in_call_order = [older.name, newer.name, again.name]
    listed = await analyses.ListAnalyses(pb.ListAnalysesRequest(parent=session))
    assert [a.name for a in listed.analyses] == in_call_order
    paged, token = [], ""
    while True:
        page = await analyses.ListAnalyses(pb.ListAnalysesRequest(parent=session, page_size=1, page_token=token))
        paged.extend(a.name for a in page.analyses)
        if not (token := page.next_page_token):
            break
    assert paged == in_call_order
    snapshot = (await analyses.GetSessionSnapshot(pb.GetSessionSnapshotRequest(session=session))).snapshot
    assert snapshot.latest_analysis.name == again.name
    assert [p.analysis for p in snapshot.score_history] == in_call_order


class HeldWindow:
    """The transcript reader, except that the window ending at ``held`` is read only once released."""

    def __init__(self, reader: TranscriptReader, held: int) -> None:
        self._reader = reader
        self._held = held
        self.reached = asyncio.Event()
        self.released = asyncio.Event()

    async def window(self, organization: str, session_id: str, up_to_sequence: int, size: int):
        if up_to_sequence == self._held:
            self.reached.set()
            await self.released.wait()
        return await self._reader.window(organization, session_id, up_to_sequence, size)


async def test_an_analysis_held_back_behind_a_newer_one_keeps_its_place_and_not_the_meter(
        engine, analysis_schema, persona_server, transcript_server, transcripts):
    session_id = session_id_of(await streamed_call(transcripts, CALL))
    link = service_link(transcript_server, "analysis")
    async with link.channel:
        transcript = TranscriptReader(link, timeout_seconds=5)
        reader = HeldWindow(transcript, held=5)
        service = Analyses(AnalysisDatabase(engine), reader, PageTokens.from_secret("test"), Engines(LocalEngine(), {}),
                           SessionAccess(SessionDirectory(transcript, max_sessions=1)),
                           CallContexts(transcript, service_link(persona_server, "analysis"), 5, max_entries=1))
        held = asyncio.create_task(service.request_analysis(ADMIN, session_id, 5, "seq-5", "message_count", 0))
        await reader.reached.wait()
        newer, _ = await service.request_analysis(ADMIN, session_id, 10, "seq-10", "message_count", 0)
        reader.released.set()
        older, _ = await held
    listed = await service.list_analyses(ADMIN, session_id, None, 0, "")
    assert [a.id for a in listed.items] == [older.id, newer.id]
    snapshot = await service.snapshot(ADMIN, session_id)
    assert snapshot.latest.id == newer.id
    assert [analysis_id for analysis_id, *_ in snapshot.history] == [older.id, newer.id]


async def test_watching_an_unknown_session_is_not_found(analyses):
    watch = analyses.WatchSession(pb.WatchSessionRequest(session="sessions/no-such-call"))
    assert await watch.code() == grpc.StatusCode.NOT_FOUND


async def _analysed(transcripts, analyses) -> pb.Analysis:
    session = await streamed_call(transcripts, CALL)
    return (await analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session, trigger_id="seq-10"))).analysis


def _first(analysis: pb.Analysis, *types) -> pb.Suggestion:
    return next(s for s in analysis.suggestions if s.type in types)


async def test_applying_a_suggestion_sends_it_to_the_call_once(transcripts, analyses):
    analysis = await _analysed(transcripts, analyses)
    suggestion = _first(analysis, pb.SUGGESTION_TYPE_CONTEXT_INJECTION, pb.SUGGESTION_TYPE_CURVEBALL)
    watch = analyses.WatchSession(pb.WatchSessionRequest(session=analysis.session))
    await watch.read()  # the snapshot

    applied = (await analyses.ApplySuggestion(pb.ApplySuggestionRequest(name=suggestion.name,
                                                                        request_id="apply-1"))).suggestion
    assert applied.state == pb.SUGGESTION_STATE_APPLIED and applied.command.startswith(analysis.session)
    command = (await transcripts.GetCommand(transcript_pb.GetCommandRequest(name=applied.command))).command
    assert command.source == transcript_pb.COMMAND_SOURCE_AI_SUGGESTED and command.suggestion == suggestion.name
    assert command.text == suggestion.text
    event = await watch.read()
    assert event.suggestion.name == suggestion.name and event.suggestion.state == pb.SUGGESTION_STATE_APPLIED
    watch.cancel()

    retried = (await analyses.ApplySuggestion(pb.ApplySuggestionRequest(name=suggestion.name,
                                                                        request_id="apply-1"))).suggestion
    assert retried == applied
    for refused in (pb.ApplySuggestionRequest(name=suggestion.name, request_id="apply-2"),
                    pb.DismissSuggestionRequest(name=suggestion.name)):
        call = analyses.ApplySuggestion if isinstance(refused, pb.ApplySuggestionRequest) else \
            analyses.DismissSuggestion
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(refused)
        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    listed = await transcripts.ListCommands(transcript_pb.ListCommandsRequest(parent=analysis.session))
    assert [c.name for c in listed.commands] == [applied.command]
    applied_only = await analyses.ListSuggestions(pb.ListSuggestionsRequest(
        parent=analysis.session, state=pb.SUGGESTION_STATE_APPLIED))
    assert [s.name for s in applied_only.suggestions] == [suggestion.name]
    everything = await analyses.ListSuggestions(pb.ListSuggestionsRequest(parent=analysis.session, page_size=1))
    assert len(everything.suggestions) == 1 and everything.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await analyses.ListSuggestions(pb.ListSuggestionsRequest(parent=analysis.session, state=9))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_dismissing_is_recorded_and_repeatable(transcripts, analyses):
    analysis = await _analysed(transcripts, analyses)
    suggestion = _first(analysis, pb.SUGGESTION_TYPE_FOLLOWUP_QUESTION)
    dismissed = (await analyses.DismissSuggestion(pb.DismissSuggestionRequest(
        name=suggestion.name, reason="not now"))).suggestion
    assert dismissed.state == pb.SUGGESTION_STATE_DISMISSED and dismissed.dismiss_reason == "not now"
    again = (await analyses.DismissSuggestion(pb.DismissSuggestionRequest(name=suggestion.name))).suggestion
    assert again == dismissed
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await analyses.ApplySuggestion(pb.ApplySuggestionRequest(name=suggestion.name))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    snapshot = (await analyses.GetSessionSnapshot(pb.GetSessionSnapshotRequest(session=analysis.session))).snapshot
    assert suggestion.name not in [s.name for s in snapshot.open_suggestions]


async def test_follow_up_questions_cannot_be_applied_and_other_sessions_suggestions_are_not_found(
        transcripts, analyses):
    analysis = await _analysed(transcripts, analyses)
    question = _first(analysis, pb.SUGGESTION_TYPE_FOLLOWUP_QUESTION)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await analyses.ApplySuggestion(pb.ApplySuggestionRequest(name=question.name))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    other = await _analysed(transcripts, analyses)
    foreign = f"{other.session}/suggestions/{question.name.rsplit('/', 1)[1]}"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await analyses.DismissSuggestion(pb.DismissSuggestionRequest(name=foreign))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    got = (await analyses.GetSuggestion(pb.GetSuggestionRequest(name=question.name))).suggestion
    assert got.state == pb.SUGGESTION_STATE_OPEN


LEAKY_CALL = [
    (USER, "Hi, thanks for joining. What made you take this call?"),
    (PERSONA, "Oh I appreciate that, great question! I love that you asked, honestly we are so excited to talk to "
              "vendors like you and I think this is going to be an amazing fit for everything we do here!"),
    (USER, "What does your current process look like?"),
    (PERSONA, "Sounds great, absolutely! We do everything by hand today and it is perfect timing for a change!"),
]


async def test_the_audit_holds_the_persona_to_its_sessions_scenario(transcripts, analyses, authors, sarah):
    """The scenario's facts reach the auditor: a budget given away before it was asked, and one the scenario rules
    out, are flagged with their quotes."""
    scenario = (await authors.CreateScenario(persona_pb.CreateScenarioRequest(
        scenario_id=f"retail-onboarding-{uid()}", scenario=persona_pb.Scenario(
            display_name="Retail onboarding", budget_range="$50k-$120k per year",
            decision_timeline="decision by end of Q3", company_size="mid-market (200-1000 employees)",
            industry="retail")))).scenario.name
    giveaway = "Fine. We can spend half a million a year on this, and I sign off myself."
    session_name = await streamed_call(transcripts, [
        (USER, "Thanks for your time today. How is the week going?"), (PERSONA, giveaway),
        (USER, "What does onboarding look like for a new store associate?"),
        (PERSONA, "Three weeks of paperwork before anyone is useful on the floor."),
    ], scenario=scenario)
    await transcripts.EndSession(transcript_pb.EndSessionRequest(name=session_name))
    audit = (await analyses.AuditSession(pb.AuditSessionRequest(session=session_name))).audit
    reasons = {quote.reason: quote for quote in audit.flagged_quotes if quote.sequence == 2}
    assert reasons.keys() >= {audit_pb2.FLAG_REASON_EARLY_DISCLOSURE, audit_pb2.FLAG_REASON_CONTRADICTS_SCENARIO}
    assert reasons[audit_pb2.FLAG_REASON_EARLY_DISCLOSURE].text == giveaway
    assert "budget, authority" in reasons[audit_pb2.FLAG_REASON_EARLY_DISCLOSURE].explanation
    assert "$50k-$120k per year" in reasons[audit_pb2.FLAG_REASON_CONTRADICTS_SCENARIO].explanation
    assert audit.scores.pacing <= 7 and audit.scores.consistency <= 7


async def test_an_ended_call_is_audited_once_and_its_snapshot_and_watchers_get_the_audit(
        transcripts, analyses, sarah):
    session_name = await streamed_call(transcripts, LEAKY_CALL)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await analyses.AuditSession(pb.AuditSessionRequest(session=session_name))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # still live

    watch = analyses.WatchSession(pb.WatchSessionRequest(session=session_name))
    await watch.read()  # the snapshot
    await transcripts.EndSession(transcript_pb.EndSessionRequest(name=session_name))
    audited = await analyses.AuditSession(pb.AuditSessionRequest(session=session_name))
    audit = audited.audit
    assert not audited.duplicate
    assert audit.scores.enthusiasm_leak <= 3 and audit.scores.brevity <= 5
    assert any(q.reason == audit_pb2.FLAG_REASON_ENTHUSIASM_LEAK for q in audit.flagged_quotes)
    assert any("appreciate" in r.lower() for r in audit.recommendations)
    assert audit.target_words_per_turn.max_words < audit.avg_words_per_turn
    assert audit.delivery_state == pb.DELIVERY_STATE_PENDING  # kept until the learning service takes it
    final, event = await watch.read(), await watch.read()
    assert final.analysis.trigger.source == pb.TRIGGER_SOURCE_SESSION_END  # the whole call's reading, then the audit
    assert event.audit == audit
    assert await watch.code() == grpc.StatusCode.OK
    snapshot = (await analyses.GetSessionSnapshot(pb.GetSessionSnapshotRequest(session=session_name))).snapshot
    assert snapshot.audit == audit
    assert snapshot.final_reading and snapshot.latest_analysis.name == final.analysis.name
    late_watch = analyses.WatchSession(pb.WatchSessionRequest(session=session_name))
    assert (await late_watch.read()).snapshot.audit == audit
    assert await late_watch.code() == grpc.StatusCode.OK  # nothing more will come

    again = await analyses.AuditSession(pb.AuditSessionRequest(session=session_name))
    assert again.duplicate and again.audit == audit
    assert (await analyses.GetPersonaAudit(pb.GetPersonaAuditRequest(name=audit.name))).audit == audit
    listed = await analyses.ListPersonaAudits(pb.ListPersonaAuditsRequest(
        session=session_name, delivery_state=pb.DELIVERY_STATE_PENDING))
    assert [a.name for a in listed.audits] == [audit.name]
    by_persona = await analyses.ListPersonaAudits(pb.ListPersonaAuditsRequest(persona="personas/sarah-chen"))
    assert audit.name in [a.name for a in by_persona.audits]


async def test_the_demo_shows_the_meter_the_audit_a_round_that_remembers_and_a_handoff(
        wired_transcript, analysis_server, persona_server, sarah, catalogue, capsys):
    from devtools import demo

    await demo.run(wired_transcript, analysis_server, persona_server, pause=0)
    shown = capsys.readouterr().out
    assert "Say Meter" in shown and "Persona audit of Sarah Chen" in shown
    round_two = shown[shown.index("Round 2"):]
    remembered = round_two[round_two.index("remembers of round 1"):round_two.index("Persona  ")]
    assert "- The candidate promised: " in remembered
    assert "The gateway got a COMMAND_TYPE_HANDOFF command" in round_two
    assert f"to {demo.HANDOFF_TO}" in round_two


class FakeLearning(learning_service_pb2_grpc.LearningServiceServicer):
    """Refuses the first audit as a learning service not deployed yet would, then keeps what it is sent and the
    organization each was sent for."""

    def __init__(self) -> None:
        self.received: list[learning_pb.CorpusAudit] = []
        self.organizations: list[str] = []
        self.calls = 0
        self.changed = asyncio.Condition()

    async def RecordCorpusAudit(self, request, context):
        async with self.changed:
            self.calls += 1
            self.changed.notify_all()
            if self.calls == 1:
                await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not deployed yet")
            self.received.append(request.audit)
            self.organizations.append(current_call().organization)
        return learning_pb.RecordCorpusAuditResponse(audit=request.audit)


async def test_audits_reach_the_learning_service_past_its_refusals(
        database_url, engine, transcript_server, persona_server, transcripts, sarah):
    fake = FakeLearning()
    learning = GrpcApp(["sparring.learning.v1.LearningService"], "test",
                       lambda server: learning_service_pb2_grpc.add_LearningServiceServicer_to_server(fake, server),
                       security())
    await learning.start()
    analysis = await build_analysis(AnalysisSettings(
        database_url=database_url, grpc_port=0, metrics_port=0, transcript_address=transcript_server,
        persona_address=persona_server, learning_address=learning.address), engine)
    await analysis.start()
    try:
        session = await streamed_call(transcripts, CALL)
        await transcripts.EndSession(transcript_pb.EndSessionRequest(name=session))
        async with secure_channel(analysis.address) as channel:
            stub = analysis_service_pb2_grpc.AnalysisServiceStub(channel)
            audit = (await stub.AuditSession(pb.AuditSessionRequest(session=session))).audit
            async with fake.changed:
                await fake.changed.wait_for(lambda: any(a.source_audit == audit.name for a in fake.received))
    finally:
        await analysis.stop(grace=1)
        await learning.stop(grace=0)
    delivered = next(a for a in fake.received if a.source_audit == audit.name)
    assert delivered.session == session and delivered.scores.brevity == audit.scores.brevity
    # Delivered in the background, on behalf of the organization the audit belongs to.
    assert fake.organizations[fake.received.index(delivered)] == ORGANIZATION
    async with engine.connect() as connection:
        state = (await connection.execute(sa.text(
            "SELECT delivery_state FROM analysis.persona_audits WHERE session_id = :s"),
            {"s": session.split("/")[1]})).scalar_one()
    assert state == "delivered"


async def test_a_reading_reads_its_analyses_once_before_it_stores(transcripts, analyses, engine):
    """What a reading builds on (the trigger's earlier analysis, the suggestions made, the kept measures, an open
    handoff) and the organization's switching rules cost one statement before the reading is stored."""
    session = await streamed_call(transcripts, CALL)
    await _analysis_up_to(analyses, session, 5)  # the first: the caches the readings share are filled
    statements: list[str] = []

    def on_execute(_connection, _cursor, statement: str, *_) -> None:
        if "analysis.voice_analysis" in statement or "analysis.switching_rules" in statement:
            statements.append(statement.lstrip())

    sa.event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        await _analysis_up_to(analyses, session, 10)
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
    reads_before_storing = next(i for i, statement in enumerate(statements) if statement.startswith("INSERT"))
    assert reads_before_storing == 1, statements[:reads_before_storing]
