"""The persona's turns are screened by its policy's output filters before they are stored: a turn a blocking
filter matches is stored as a marker naming the rule and found nowhere in the database; a flagged one is stored as
said; both counted, and the filters that matched stored with the turn."""

from __future__ import annotations

from sparring.persona.v1 import safety_policy_service_pb2 as policy_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb

from tests.builders import uid
from tests.e2e.test_transcript_pii import holders, stored_texts
from tests.e2e.transcript_fixtures import persona_under, streamed_call
from tests.probes import metric

FILTERED = "sparring_transcript_persona_turns_filtered_total"


def _threat() -> str:
    return f"Mention ticket {uid()} once more and I will hurt you."


async def test_the_default_policy_stores_a_threat_as_a_marker_and_a_defamation_as_said(transcripts, engine):
    threat, defamation, candidates_threat = _threat(), f"Globex bribes officials, ask about deal {uid()}.", _threat()
    blocked, flagged = metric(FILTERED, category="threats", decision="block"), \
        metric(FILTERED, category="defamation", decision="flag")

    session = await streamed_call(transcripts, [(pb.ROLE_USER, candidates_threat), (pb.ROLE_ASSISTANT, threat),
                                                (pb.ROLE_ASSISTANT, defamation)])

    # Output filters screen the persona's turns only.
    assert await stored_texts(transcripts, session) == [candidates_threat, "[removed by the threats filter]",
                                                        defamation]
    assert await holders(engine, [threat]) == []
    assert metric(FILTERED, category="threats", decision="block") == blocked + 1
    assert metric(FILTERED, category="defamation", decision="flag") == flagged + 1


async def test_a_policy_that_flags_threats_stores_them_as_said(transcripts, personas, policies):
    persona = await persona_under(personas, policies, policy_pb.SafetyPolicy(output_filters=[policy_pb.ContentFilter(
        rule="threats", category=policy_pb.FILTER_CATEGORY_THREATS, decision=policy_pb.FILTER_DECISION_FLAG)]),
        "output_filters")
    threat = _threat()
    flagged = metric(FILTERED, category="threats", decision="flag")

    session = await streamed_call(transcripts, [(pb.ROLE_ASSISTANT, threat)], persona=persona)

    assert await stored_texts(transcripts, session) == [threat]
    assert metric(FILTERED, category="threats", decision="flag") == flagged + 1


async def test_a_policys_own_blocking_pattern_names_its_rule_in_the_marker(transcripts, personas, policies):
    persona = await persona_under(personas, policies, policy_pb.SafetyPolicy(output_filters=[policy_pb.ContentFilter(
        rule="competitor-names", category=policy_pb.FILTER_CATEGORY_PATTERN, pattern=r"(?i)\binitech\b",
        decision=policy_pb.FILTER_DECISION_BLOCK)]), "output_filters")

    session = await streamed_call(transcripts, [(pb.ROLE_ASSISTANT, "We also talked to Initech last week.")],
                                  persona=persona)

    assert await stored_texts(transcripts, session) == ["[removed by the competitor-names filter]"]



async def test_the_filters_that_matched_a_persona_turn_are_stored_with_it(transcripts):
    defamation = f"Globex bribes officials, ask about deal {uid()}."
    session = await streamed_call(transcripts, [(pb.ROLE_USER, "Why do you hesitate?"), (pb.ROLE_ASSISTANT, _threat()),
                                                (pb.ROLE_ASSISTANT, defamation),
                                                (pb.ROLE_ASSISTANT, "Fine, let us talk budget.")])

    listed = await transcripts.ListMessages(pb.ListMessagesRequest(parent=session, page_size=10))

    assert [[(flag.rule, flag.blocked) for flag in message.flags] for message in listed.messages] == [
        [], [("threats", True)], [("defamation", False)], []]
    third = await transcripts.GetMessage(pb.GetMessageRequest(name=f"{session}/messages/3"))
    assert [(flag.rule, flag.blocked) for flag in third.message.flags] == [("defamation", False)]
