"""Every guardrail check of a live call leaves one record in the check log: commands (handoffs too) allowed, denied,
rate-limited or held for approval; approvals decided, escalated, expired and refused as their session ends; personal
data handled and persona turns filtered on ingest; a conversation passing its token budget, which the policy then
ends. The log holds what was stored, never personal data as said, and is listed per session or per persona, oldest
first, to admins, the session's interviewer and the persona's owners."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest_asyncio
from sparring.persona.v1 import safety_policy_service_pb2 as policy_pb
from sparring.transcript.v1 import approval_service_pb2 as approval_pb
from sparring.transcript.v1 import guardrail_check_service_pb2 as pb
from sparring.transcript.v1 import guardrail_check_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb

from tests.e2e import test_handoff
from tests.e2e.test_approvals import (
    NEEDS_APPROVAL,
    approval_of,
    command_state,
    expire_time_of,
    held_command,
    next_in_state,
)
from tests.e2e.test_preflight import CURVEBALL, HARDER, HINT, LiveCall, send, session_under
from tests.e2e.test_transcript_pii import Said, holders
from tests.e2e.transcript_checks import rejected
from tests.e2e.transcript_fixtures import new_session, streamed_call
from tests.security import OTHER_ORGANIZATION, token

cfo = test_handoff.cfo  # a persona to hand calls to


@pytest_asyncio.fixture(scope="session")
async def checks(transcript_server, connect) -> guardrail_check_service_pb2_grpc.GuardrailCheckServiceStub:
    """The guardrail check log, as an admin of the test organization reads it."""
    return guardrail_check_service_pb2_grpc.GuardrailCheckServiceStub(connect(transcript_server, token("admin")))


async def logged(checks, parent: str, **filters) -> list[pb.GuardrailCheck]:
    """Every check of ``parent`` the filters keep, page after page."""
    found: list[pb.GuardrailCheck] = []
    token_ = ""
    while True:
        page = await checks.ListGuardrailChecks(pb.ListGuardrailChecksRequest(parent=parent, page_size=2,
                                                                              page_token=token_, **filters))
        found += page.guardrail_checks
        token_ = page.next_page_token
        if not token_:
            return found


def decisions(found: list[pb.GuardrailCheck]) -> list[tuple[int, str]]:
    return [(check.decision, check.rule) for check in found]


async def test_every_preflight_check_is_logged_allowed_denied_rate_limited_or_held(
        transcripts, personas, policies, checks):
    session = await session_under(transcripts, personas, policies, policy_pb.SafetyPolicy(
        blocked_actions=[policy_pb.SAFETY_ACTION_CURVEBALL],
        approval_actions=[policy_pb.SAFETY_ACTION_DIFFICULTY_CHANGE],
        rate_limits=policy_pb.RateLimits(commands_per_turn=2)), "blocked_actions", "approval_actions", "rate_limits")
    hint = await send(transcripts, session, HINT)
    await rejected(send(transcripts, session, CURVEBALL), grpc.StatusCode.FAILED_PRECONDITION)
    held = await send(transcripts, session, HARDER)
    await rejected(send(transcripts, session, HINT), grpc.StatusCode.RESOURCE_EXHAUSTED)

    found = await logged(checks, session, kind=pb.GUARDRAIL_CHECK_KIND_PREFLIGHT)

    assert decisions(found) == [
        (pb.GUARDRAIL_DECISION_ALLOWED, "allowed_actions"), (pb.GUARDRAIL_DECISION_DENIED, "blocked_actions"),
        (pb.GUARDRAIL_DECISION_PENDING_APPROVAL, "approval_actions"),
        (pb.GUARDRAIL_DECISION_RATE_LIMITED, "rate_limits.commands_per_turn")]
    assert (found[0].subject, found[2].subject) == (hint.name, held.name)
    assert found[0].input == f"CONTEXT_INJECTION: {HINT.text}"
    persona = found[0].persona
    assert {(c.persona, c.policy, c.policy_revision > 0) for c in found} == {(persona, f"{persona}/safetyPolicy",
                                                                              True)}
    assert all(c.actor and c.name.startswith(f"{session}/guardrailChecks/") for c in found)
    assert decisions(await logged(checks, session, decision=pb.GUARDRAIL_DECISION_DENIED)) == [
        (pb.GUARDRAIL_DECISION_DENIED, "blocked_actions")]


async def test_a_handoffs_preflight_check_is_logged_and_a_refused_one_adds_to_the_risk(
        transcripts, handoffs, personas, policies, checks, cfo):
    allowed = (await new_session(transcripts)).name
    handoff = await test_handoff.started(handoffs, allowed, cfo.name)
    (check,) = await logged(checks, allowed, kind=pb.GUARDRAIL_CHECK_KIND_PREFLIGHT)
    assert (check.decision, check.subject) == (pb.GUARDRAIL_DECISION_ALLOWED, handoff.command)
    assert check.input.startswith("HANDOFF: ")

    # Blocked, 10 points of risk: the policy alerts from 10.
    refused = await session_under(transcripts, personas, policies, policy_pb.SafetyPolicy(
        blocked_actions=[policy_pb.SAFETY_ACTION_HANDOFF], risk_threshold=0.1, escalation_threshold=0.1),
        "blocked_actions", "risk_threshold", "escalation_threshold")
    await rejected(handoffs.StartHandoff(test_handoff.start(refused, cfo.name)), grpc.StatusCode.FAILED_PRECONDITION)

    found = await logged(checks, refused)
    assert [(c.kind, c.decision, c.rule) for c in found] == [
        (pb.GUARDRAIL_CHECK_KIND_PREFLIGHT, pb.GUARDRAIL_DECISION_DENIED, "blocked_actions"),
        (pb.GUARDRAIL_CHECK_KIND_RISK, pb.GUARDRAIL_DECISION_ALERTED, "escalation_threshold")]
    assert found[1].input == "risk 10 of 10"


async def test_approvals_decided_escalated_and_expired_are_logged_with_who_decided(
        transcripts, personas, policies, approvals, expiry, checks):
    session, rejected_command = await held_command(transcripts, personas, policies)
    await approvals.RejectApproval(approval_pb.RejectApprovalRequest(name=rejected_command.approval,
                                                                     reason="not now"))
    expiring = await send(transcripts, session, HARDER)
    await expiry.expire_due(await expire_time_of(approvals, expiring) + timedelta(seconds=1), 1000)
    await expiry.expire_due(await expire_time_of(approvals, expiring) + timedelta(seconds=1), 1000)

    found = await logged(checks, session, kind=pb.GUARDRAIL_CHECK_KIND_APPROVAL)

    assert [(c.decision, c.rule, c.subject) for c in found] == [
        (pb.GUARDRAIL_DECISION_REJECTED, "approval_actions", rejected_command.name),
        (pb.GUARDRAIL_DECISION_ESCALATED, "escalation_path", expiring.name),
        (pb.GUARDRAIL_DECISION_EXPIRED, "escalation_path", expiring.name)]
    assert found[0].input == "DIFFICULTY_CHANGE: not now" and found[0].actor
    assert found[1].input == f"DIFFICULTY_CHANGE to {NEEDS_APPROVAL.escalation_path[0]}"
    assert (found[1].actor, found[2].actor) == ("", "")


async def test_an_ending_session_refuses_its_pending_approvals_and_tells_their_watchers(
        transcripts, personas, policies, approvals, checks):
    session, held = await held_command(transcripts, personas, policies)
    watch = approvals.WatchApprovals(approval_pb.WatchApprovalsRequest(parent=session))
    await next_in_state(watch, approval_pb.APPROVAL_STATE_PENDING)

    await transcripts.EndSession(transcript_pb.EndSessionRequest(name=session))

    told = await next_in_state(watch, approval_pb.APPROVAL_STATE_REFUSED)
    watch.cancel()
    refused = await approval_of(approvals, held)
    assert told.name == refused.name == held.approval
    assert (refused.decision_reason, refused.decider, refused.HasField("decide_time")) == ("session ended", "", True)
    assert await command_state(transcripts, held) == transcript_pb.COMMAND_STATE_REFUSED
    logged_refusals = await logged(checks, session, decision=pb.GUARDRAIL_DECISION_REFUSED)
    assert [(c.kind, c.rule, c.subject, c.input) for c in logged_refusals] == [
        (pb.GUARDRAIL_CHECK_KIND_APPROVAL, "approval_actions", held.name, "DIFFICULTY_CHANGE: session ended")]
    pending = await approvals.ListApprovals(approval_pb.ListApprovalsRequest(
        parent=session, state=approval_pb.APPROVAL_STATE_PENDING))
    assert list(pending.approvals) == []


async def test_personal_data_and_filtered_persona_turns_are_logged_as_stored_never_as_said(
        transcripts, engine, checks):
    said = Said()
    threat = "Mention that discount once more and I will hurt you."
    session = await streamed_call(transcripts, [*said.turns[1:3], (transcript_pb.ROLE_ASSISTANT, threat),
                                                (transcript_pb.ROLE_USER, "Nothing personal here.")])

    found = await logged(checks, session)

    assert [(c.kind, c.decision, c.rule, c.subject.rsplit("/", 1)[1]) for c in found] == [
        (pb.GUARDRAIL_CHECK_KIND_PII, pb.GUARDRAIL_DECISION_PII_HANDLED, "CARD_NUMBER:redact", "1"),
        (pb.GUARDRAIL_CHECK_KIND_PII, pb.GUARDRAIL_DECISION_PII_HANDLED, "IBAN:redact", "2"),
        (pb.GUARDRAIL_CHECK_KIND_OUTPUT_FILTER, pb.GUARDRAIL_DECISION_BLOCKED, "threats", "3")]
    assert [c.input for c in found] == ["The customer's card is <CARD_NUMBER>, expiry next March.",
                                        "Fine, wire the deposit to <IBAN> then.", "[removed by the threats filter]"]
    assert await holders(engine, [said.card, said.iban, threat]) == []


async def test_a_personas_checks_are_listed_across_its_sessions(transcripts, personas, policies, checks):
    blocked = policy_pb.SafetyPolicy(blocked_actions=[policy_pb.SAFETY_ACTION_CURVEBALL])
    first = await session_under(transcripts, personas, policies, blocked, "blocked_actions")
    await rejected(send(transcripts, first, CURVEBALL), grpc.StatusCode.FAILED_PRECONDITION)
    persona = (await logged(checks, first))[0].persona
    second = (await transcripts.CreateSession(transcript_pb.CreateSessionRequest(session=transcript_pb.Session(
        persona=persona, scenario="scenarios/q2-cost-reduction", blueprint=1)))).session.name
    await send(transcripts, second, HINT)

    found = await logged(checks, persona)

    assert [(c.subject.split("/commands/")[0], c.decision) for c in found] == [
        (first, pb.GUARDRAIL_DECISION_DENIED), (second, pb.GUARDRAIL_DECISION_ALLOWED)]


async def test_only_admins_the_interviewer_and_the_personas_owners_read_the_log(
        transcripts, transcript_server, connect, checks):
    session = await streamed_call(transcripts, [(transcript_pb.ROLE_USER, "Hello there.")])

    def as_(bearer: str):
        return guardrail_check_service_pb2_grpc.GuardrailCheckServiceStub(connect(transcript_server, bearer))

    request = pb.ListGuardrailChecksRequest(parent=session)
    stranger = await rejected(as_(token("author")).ListGuardrailChecks(request), grpc.StatusCode.PERMISSION_DENIED)
    assert stranger.reason == "NOT_A_PERSONA_OWNER"
    other = await rejected(as_(token("admin", organization=OTHER_ORGANIZATION)).ListGuardrailChecks(request),
                           grpc.StatusCode.NOT_FOUND)
    assert other.reason == "SESSION_NOT_FOUND"
    elsewhere = await rejected(as_(token("admin", organization=OTHER_ORGANIZATION)).ListGuardrailChecks(
        pb.ListGuardrailChecksRequest(parent="personas/nobody-here")), grpc.StatusCode.NOT_FOUND)
    assert elsewhere.reason == "PERSONA_NOT_FOUND"
    await rejected(as_(token("gateway")).ListGuardrailChecks(request), grpc.StatusCode.PERMISSION_DENIED)
    assert (await checks.ListGuardrailChecks(request)).guardrail_checks == []


async def test_a_bad_parent_or_filter_names_the_field(checks):
    for request, field in ((pb.ListGuardrailChecksRequest(parent="calls/x"), "parent"),
                           (pb.ListGuardrailChecksRequest(parent="sessions/x", kind=99), "kind"),
                           (pb.ListGuardrailChecksRequest(parent="sessions/x", decision=99), "decision")):
        refusal = await rejected(checks.ListGuardrailChecks(request), grpc.StatusCode.INVALID_ARGUMENT)
        assert refusal.fields == [field]


async def test_findings_that_are_not_a_readings_name_the_field_and_log_nothing(transcripts, checks):
    session = await streamed_call(transcripts, [(transcript_pb.ROLE_USER, "How old are you?")])
    finding = pb.InputFilterFinding(rule="illegal-interview-questions", decision=pb.GUARDRAIL_DECISION_FLAGGED,
                                    message_sequence=1, quote="How old are you")
    for reading, decision, field in ((f"{session}/analyses/a1", pb.GUARDRAIL_DECISION_ALLOWED, "findings[0].decision"),
                                     ("sessions/another/analyses/a1", pb.GUARDRAIL_DECISION_FLAGGED, "reading")):
        finding.decision = decision
        refusal = await rejected(checks.RecordInputFilterFindings(pb.RecordInputFilterFindingsRequest(
            parent=session, reading=reading, findings=[finding])), grpc.StatusCode.INVALID_ARGUMENT)
        assert refusal.fields == [field]
    assert await logged(checks, session) == []


async def test_a_conversation_past_its_token_budget_is_ended_by_its_policy_once_and_logged(
        transcripts, personas, policies, checks):
    session = await session_under(transcripts, personas, policies, policy_pb.SafetyPolicy(
        rate_limits=policy_pb.RateLimits(tokens_per_conversation=10)), "rate_limits")
    call = LiveCall(transcripts, session)
    await call.open()
    await call.say(1, transcript_pb.ROLE_USER, "One two three four")
    await call.say(2, transcript_pb.ROLE_ASSISTANT, "five six seven eight")  # 8 words: within the budget
    await call.say(3, transcript_pb.ROLE_USER, "nine ten eleven")  # past it
    await call.say(4, transcript_pb.ROLE_ASSISTANT, "twelve")
    ending = f"{session}/commands/token-limit"
    await call.close({ending})

    command = (await transcripts.GetCommand(transcript_pb.GetCommandRequest(name=ending))).command
    assert (command.type, command.source) == (transcript_pb.COMMAND_TYPE_END_CALL,
                                              transcript_pb.COMMAND_SOURCE_SAFETY_POLICY)
    found = await logged(checks, session, kind=pb.GUARDRAIL_CHECK_KIND_TOKEN_LIMIT)
    assert [(c.decision, c.rule, c.subject, c.input) for c in found] == [
        (pb.GUARDRAIL_DECISION_RATE_LIMITED, "rate_limits.tokens_per_conversation", f"{session}/messages/3",
         "nine ten eleven")]
