"""A session's risk adds up what its guardrail checks saw (refused commands, personal data, filtered persona turns,
the candidate's messages the analysis service's readings found input filters matching, which are logged too),
reaches its interviewer in the snapshot and as watch events when it rises, shows the session at risk from the policy's
risk threshold, and alerts once, when it first reaches the policy's escalation threshold; a policy without one never
alerts."""

from __future__ import annotations

import grpc
from sparring.analysis.v1 import analysis_service_pb2 as analysis_pb
from sparring.persona.v1 import safety_policy_service_pb2 as policy_pb
from sparring.transcript.v1 import guardrail_check_service_pb2 as checks_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb

from tests.e2e import test_handoff
from tests.e2e.test_content_findings import CALL_WITH_AGE_QUESTION, ILLEGAL_QUESTIONS
from tests.e2e.test_guardrail_checks import checks, logged
from tests.e2e.test_preflight import CURVEBALL, send, session_under
from tests.e2e.test_transcript_pii import card_number
from tests.e2e.transcript_checks import rejected
from tests.e2e.transcript_fixtures import new_session, persona_under, stream_turns, streamed_call

# A transcript replica that hands its outbox (analysis requests, risk scores) to the analysis service.
analysed = test_handoff.analysed
checks = checks  # the check log, as an admin reads it

BLOCKS_CURVEBALLS = ("blocked_actions", "risk_threshold", "escalation_threshold")


def blocking_curveballs(escalation_threshold: float) -> policy_pb.SafetyPolicy:
    return policy_pb.SafetyPolicy(blocked_actions=[policy_pb.SAFETY_ACTION_CURVEBALL],
                                  risk_threshold=min(0.1, escalation_threshold),
                                  escalation_threshold=escalation_threshold)


async def risk_events_until(watch, score: int) -> list[analysis_pb.WatchSessionResponse]:
    """The watch stream's risk events (``risk`` and ``risk_alert``) until its score reaches ``score``."""
    events = []
    while True:
        event = await watch.read()
        if event.WhichOneof("event") in ("risk", "risk_alert"):
            events.append(event)
            if event.risk.score >= score:
                return events


async def refuse_curveballs(transcripts, session: str, times: int) -> None:
    for _ in range(times):
        await rejected(send(transcripts, session, CURVEBALL), grpc.StatusCode.FAILED_PRECONDITION)


async def test_refused_commands_raise_the_risk_and_crossing_the_threshold_alerts_the_watcher_once(
        analysed, personas, policies, analyses, checks):
    transcripts, _ = analysed
    session = await session_under(transcripts, personas, policies, blocking_curveballs(0.3), *BLOCKS_CURVEBALLS)
    watch = analyses.WatchSession(analysis_pb.WatchSessionRequest(session=session))
    try:
        assert not (await watch.read()).snapshot.HasField("risk")

        await refuse_curveballs(transcripts, session, 5)  # 10 points each; the policy alerts from 30
        events = await risk_events_until(watch, 50)
    finally:
        watch.cancel()

    scores = [event.risk.score for event in events if event.WhichOneof("event") == "risk"]
    assert scores == sorted(set(scores)) and scores[-1] == 50
    alerts = [event.risk_alert for event in events if event.WhichOneof("event") == "risk_alert"]
    assert len(alerts) == 1 and 30 <= alerts[0].score < 50 and alerts[0].HasField("alert_time")
    snapshot = (await analyses.GetSessionSnapshot(analysis_pb.GetSessionSnapshotRequest(session=session))).snapshot
    assert (snapshot.risk.score, snapshot.risk.alert_time) == (50, alerts[0].alert_time)
    logged_alerts = await logged(checks, session, kind=checks_pb.GUARDRAIL_CHECK_KIND_RISK)
    assert [(c.decision, c.rule, c.input, c.subject) for c in logged_alerts] == [
        (checks_pb.GUARDRAIL_DECISION_ALERTED, "escalation_threshold", "risk 30 of 30", session)]


async def test_a_session_is_at_risk_once_its_score_reaches_the_policys_risk_threshold(
        analysed, personas, policies, analyses):
    transcripts, _ = analysed
    session = await session_under(transcripts, personas, policies, policy_pb.SafetyPolicy(
        blocked_actions=[policy_pb.SAFETY_ACTION_CURVEBALL], risk_threshold=0.2, escalation_threshold=0.5),
        *BLOCKS_CURVEBALLS)
    watch = analyses.WatchSession(analysis_pb.WatchSessionRequest(session=session))
    try:
        await watch.read()
        await refuse_curveballs(transcripts, session, 1)  # 10 points: below the 20 of the risk threshold
        below = await risk_events_until(watch, 10)
        await refuse_curveballs(transcripts, session, 1)
        reached = await risk_events_until(watch, 20)
    finally:
        watch.cancel()

    assert [(event.risk.score, event.risk.at_risk) for event in (below[-1], reached[-1])] == [(10, False), (20, True)]
    snapshot = (await analyses.GetSessionSnapshot(analysis_pb.GetSessionSnapshotRequest(session=session))).snapshot
    assert (snapshot.risk.score, snapshot.risk.at_risk) == (20, True) and not snapshot.risk.HasField("alert_time")


async def test_a_policy_without_an_escalation_threshold_never_alerts(analysed, personas, policies, analyses, checks):
    transcripts, _ = analysed
    session = await session_under(transcripts, personas, policies, blocking_curveballs(0.0), *BLOCKS_CURVEBALLS)
    watch = analyses.WatchSession(analysis_pb.WatchSessionRequest(session=session))
    try:
        await watch.read()
        await refuse_curveballs(transcripts, session, 10)
        events = await risk_events_until(watch, 100)
    finally:
        watch.cancel()

    assert {event.WhichOneof("event") for event in events} == {"risk"}
    snapshot = (await analyses.GetSessionSnapshot(analysis_pb.GetSessionSnapshotRequest(session=session))).snapshot
    assert snapshot.risk.score == 100 and not snapshot.risk.HasField("alert_time") and not snapshot.risk.at_risk
    assert await logged(checks, session, kind=checks_pb.GUARDRAIL_CHECK_KIND_RISK) == []


async def test_personal_data_and_blocked_persona_turns_on_ingest_raise_the_risk(analysed, analyses):
    transcripts, _ = analysed
    session = (await new_session(transcripts)).name
    watch = analyses.WatchSession(analysis_pb.WatchSessionRequest(session=session))
    try:
        await watch.read()
        # The default policy: 5 points for personal data, 20 for a persona turn it blocks.
        await stream_turns(transcripts, session, [(pb.ROLE_USER, f"My card is {card_number()}."),
                                                  (pb.ROLE_ASSISTANT, "Say that again and I will hurt you.")])
        events = await risk_events_until(watch, 25)
    finally:
        watch.cancel()

    assert events[-1].risk.score == 25


async def test_a_readings_input_filter_findings_are_logged_with_the_sessions_checks_and_raise_its_risk(
        analysed, personas, policies, analyses, checks):
    transcripts, _ = analysed
    persona = await persona_under(personas, policies, policy_pb.SafetyPolicy(input_filters=[ILLEGAL_QUESTIONS]),
                                  "input_filters")
    session = await streamed_call(transcripts, CALL_WITH_AGE_QUESTION, persona=persona)
    watch = analyses.WatchSession(analysis_pb.WatchSessionRequest(session=session))
    try:
        await watch.read()
        await analyses.RequestAnalysis(analysis_pb.RequestAnalysisRequest(session=session, up_to_sequence=12,
                                                                          trigger_id="seq-12"))
        found: list[checks_pb.GuardrailCheck] = []
        while not found:  # each rise of the risk: the findings may be logged by now
            await risk_events_until(watch, 1)
            found = await logged(checks, session, kind=checks_pb.GUARDRAIL_CHECK_KIND_INPUT_FILTER)
    finally:
        watch.cancel()

    assert [(c.decision, c.rule, c.subject, c.persona) for c in found] == [
        (checks_pb.GUARDRAIL_DECISION_FLAGGED, ILLEGAL_QUESTIONS.rule, f"{session}/messages/11", persona)]
    assert "how old are you" in found[0].input and found[0].actor
