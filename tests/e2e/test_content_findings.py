"""A candidate's question that the persona's input filters flag (in the HR track: one a hiring manager may not
legally ask) becomes a finding of the analysis that screened it and a suggestion to the interviewer citing the
message, seen in the snapshot and on the watch stream."""

from __future__ import annotations

from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.persona.v1 import safety_policy_service_pb2 as policy_pb
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb

from tests.e2e.test_analysis_live import CALL, PERSONA, USER
from tests.e2e.transcript_fixtures import persona_under, streamed_call

ILLEGAL_QUESTIONS = policy_pb.ContentFilter(rule="illegal-interview-questions",
                                            category=policy_pb.FILTER_CATEGORY_ILLEGAL_INTERVIEW_QUESTIONS,
                                            decision=policy_pb.FILTER_DECISION_FLAG)
# The sales call of the live analysis tests, with the candidate asking the persona's age at message 11.
CALL_WITH_AGE_QUESTION = [*CALL, (USER, "Before I send it, how old are you, if you don't mind?"),
                          (PERSONA, "That's not really relevant, is it?")]


async def _screening_persona(personas, policies) -> str:
    return await persona_under(personas, policies, policy_pb.SafetyPolicy(input_filters=[ILLEGAL_QUESTIONS]),
                               "input_filters")


async def _analysis(analyses, session: str, up_to: int) -> pb.Analysis:
    return (await analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session, up_to_sequence=up_to,
                                                                     trigger_id=f"seq-{up_to}"))).analysis


async def test_an_illegal_question_is_a_finding_and_a_suggestion_citing_the_message(transcripts, analyses, personas,
                                                                                    policies):
    persona = await _screening_persona(personas, policies)
    session = await streamed_call(transcripts, CALL_WITH_AGE_QUESTION, persona=persona)
    watch = analyses.WatchSession(pb.WatchSessionRequest(session=session))
    await watch.read()  # the snapshot

    analysis = await _analysis(analyses, session, 12)

    assert [(f.rule, f.category, f.decision, f.topic, f.message_sequence, f.quote) for f in analysis.findings] == [
        ("illegal-interview-questions", policy_pb.FILTER_CATEGORY_ILLEGAL_INTERVIEW_QUESTIONS,
         policy_pb.FILTER_DECISION_FLAG, "age", 11, "how old are you")]
    (raised,) = [s for s in analysis.suggestions if s.label == "Illegal interview question: age"]
    assert raised.priority == pb.PRIORITY_HIGH and "message 11" in raised.text and "how old are you" in raised.text
    assert (await watch.read()).analysis.findings == analysis.findings
    snapshot = (await analyses.GetSessionSnapshot(pb.GetSessionSnapshotRequest(session=session))).snapshot
    assert snapshot.latest_analysis.findings == analysis.findings
    assert raised.name in {s.name for s in snapshot.open_suggestions}
    watch.cancel()


async def test_a_message_screened_by_one_reading_is_not_found_again_by_the_next(transcripts, analyses, personas,
                                                                                policies):
    persona = await _screening_persona(personas, policies)
    session = await streamed_call(transcripts, [*CALL_WITH_AGE_QUESTION, (USER, "Shall we say Tuesday then?")],
                                  persona=persona)
    first = await _analysis(analyses, session, 12)
    second = await _analysis(analyses, session, 13)
    assert [f.message_sequence for f in first.findings] == [11]
    assert not second.findings


async def test_a_persona_without_input_filters_finds_nothing(transcripts, analyses):
    session = await streamed_call(transcripts, CALL_WITH_AGE_QUESTION)  # the sales persona's default policy
    analysis = await _analysis(analyses, session, 12)
    assert not analysis.findings
    assert not [s for s in analysis.suggestions if s.label.startswith("Illegal interview question")]


async def test_the_final_reading_screens_the_messages_after_the_last_live_one(transcripts, analyses, personas,
                                                                              policies):
    persona = await _screening_persona(personas, policies)
    session = await streamed_call(transcripts, CALL_WITH_AGE_QUESTION, persona=persona)
    await _analysis(analyses, session, 10)  # before the question
    await transcripts.EndSession(transcript_pb.EndSessionRequest(name=session))

    await analyses.AuditSession(pb.AuditSessionRequest(session=session))

    listed = await analyses.ListAnalyses(pb.ListAnalysesRequest(parent=session))
    final = next(a for a in listed.analyses if a.trigger.source == pb.TRIGGER_SOURCE_SESSION_END)
    assert [(f.topic, f.message_sequence) for f in final.findings] == [("age", 11)]
