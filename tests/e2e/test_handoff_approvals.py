"""A handoff the persona's safety policy wants approved is held, not refused: stored AWAITING_APPROVAL with its
packet and an approval saying who asked, which handoff and why, until when; nothing reaches the gateway and the
session's persona does not change. Approved, it goes on exactly as an allowed one; rejected, expired past its
escalation path, or refused as its session ends, it fails saying so and nothing is sent. Another handoff waits
until it is settled."""

from __future__ import annotations

from datetime import timedelta

import grpc
from sparring.analysis.v1 import analysis_service_pb2 as analysis_pb
from sparring.persona.v1 import safety_policy_service_pb2 as policy_pb
from sparring.transcript.v1 import approval_service_pb2 as approval_pb
from sparring.transcript.v1 import guardrail_check_service_pb2 as check_pb
from sparring.transcript.v1 import handoff_service_pb2 as hb
from sparring.transcript.v1 import transcript_service_pb2 as pb

from tests.e2e import test_handoff
from tests.e2e.test_approvals import approval_of, expire_time_of, next_in_state
from tests.e2e.test_guardrail_checks import checks, logged  # noqa: F401 (fixture)
from tests.e2e.test_handoff import analysed, get, start, started  # noqa: F401 (fixture)
from tests.e2e.test_handoff_voice import round_rows
from tests.e2e.test_preflight import LiveCall, session_under
from tests.e2e.test_switching_rules import rule, rules, watched_call, within_a_minute  # noqa: F401 (fixture)
from tests.e2e.transcript_checks import rejected
from tests.e2e.transcript_fixtures import new_session, persona_under, rounds_of, start_round

cfo = test_handoff.cfo  # a persona to hand calls to
HANDOFF_NEEDS_APPROVAL = policy_pb.SafetyPolicy(approval_actions=[policy_pb.SAFETY_ACTION_HANDOFF],
                                                escalation_path=["queues/handoff-review"])


async def held_session(transcripts, personas, policies) -> str:
    return await session_under(transcripts, personas, policies, HANDOFF_NEEDS_APPROVAL, "approval_actions",
                               "escalation_path")


async def command_state(transcripts, handoff: hb.Handoff) -> int:
    return (await transcripts.GetCommand(pb.GetCommandRequest(name=handoff.command))).command.state


async def current_persona(transcripts, session: str) -> str:
    return (await transcripts.GetSession(pb.GetSessionRequest(name=session))).session.current_persona


async def test_a_held_handoff_waits_for_its_approval_then_goes_down_the_stream_like_an_allowed_one(
        transcripts, handoffs, approvals, personas, policies, checks, cfo):  # noqa: F811
    session = await held_session(transcripts, personas, policies)
    playing = await current_persona(transcripts, session)
    watch = approvals.WatchApprovals(approval_pb.WatchApprovalsRequest(parent=session))
    call = LiveCall(transcripts, session)
    await call.open()
    await call.say(1, pb.ROLE_USER, "Who signs off on the budget?")

    handoff = await started(handoffs, session, cfo.name)

    assert (handoff.state, handoff.approval) == (hb.HANDOFF_STATE_AWAITING_APPROVAL,
                                                 handoff.command.replace("/commands/", "/approvals/"))
    assert "Candidate (#1): Who signs off on the budget?" in handoff.system_prompt  # the packet is kept
    watched = await next_in_state(watch, approval_pb.APPROVAL_STATE_PENDING)
    assert watched.name == handoff.approval
    assert (watched.action, watched.rule, watched.command) == (pb.COMMAND_TYPE_HANDOFF, "approval_actions",
                                                               handoff.command)
    assert watched.handoff == approval_pb.HeldHandoff(handoff=handoff.name, from_persona=handoff.from_persona,
                                                      to_persona=cfo.name, reason=test_handoff.REASON)
    assert watched.requester and watched.expire_time.ToDatetime() > watched.create_time.ToDatetime()
    await call.say(2, pb.ROLE_ASSISTANT, "Let me see who can answer that.")
    assert handoff.command not in call.commands
    assert await command_state(transcripts, handoff) == pb.COMMAND_STATE_AWAITING_APPROVAL
    assert await current_persona(transcripts, session) == playing
    second = await rejected(handoffs.StartHandoff(start(session, test_handoff.SARAH)),
                            grpc.StatusCode.FAILED_PRECONDITION)
    assert (second.reason, second.info.metadata["handoff"]) == ("HANDOFF_PENDING", handoff.name)

    approved = (await approvals.ApproveApproval(approval_pb.ApproveApprovalRequest(name=handoff.approval))).approval

    assert approved.state == approval_pb.APPROVAL_STATE_APPROVED
    assert (await next_in_state(watch, approval_pb.APPROVAL_STATE_APPROVED)).name == handoff.approval
    watch.cancel()
    going = await get(handoffs, handoff.name)
    assert (going.state, going.system_prompt, going.approval) == (hb.HANDOFF_STATE_PENDING, handoff.system_prompt,
                                                                 handoff.approval)
    assert await current_persona(transcripts, session) == cfo.name
    while (frame := await call.gateway.read()).command.name != handoff.command:
        pass
    assert (frame.command.type, frame.command.handoff) == (pb.COMMAND_TYPE_HANDOFF, going)
    call.gateway.send(pb.StreamSessionRequest(command_ack=pb.CommandAck(command=handoff.command)))
    await call.say(3, pb.ROLE_USER, "Dana, what would you need to see?")  # acked after the command's ack
    accepted = await get(handoffs, handoff.name)
    assert (accepted.state, accepted.first_sequence) == (hb.HANDOFF_STATE_ACCEPTED, 3)
    await call.close(set())
    found = await logged(checks, session)
    assert [(c.kind, c.decision, c.subject) for c in found] == [
        (check_pb.GUARDRAIL_CHECK_KIND_PREFLIGHT, check_pb.GUARDRAIL_DECISION_PENDING_APPROVAL, handoff.command),
        (check_pb.GUARDRAIL_CHECK_KIND_APPROVAL, check_pb.GUARDRAIL_DECISION_APPROVED, handoff.command)]


async def test_a_rejected_handoff_fails_with_the_rejection_and_never_reaches_the_call(
        transcripts, handoffs, approvals, personas, policies, cfo):
    session = await held_session(transcripts, personas, policies)
    playing = await current_persona(transcripts, session)
    call = LiveCall(transcripts, session)
    await call.open()
    handoff = await started(handoffs, session, cfo.name)

    await approvals.RejectApproval(approval_pb.RejectApprovalRequest(name=handoff.approval, reason="not this call"))

    failed = await get(handoffs, handoff.name)
    assert failed.state == hb.HANDOFF_STATE_FAILED
    assert failed.failure_reason.startswith("its approval was rejected by ")
    assert failed.failure_reason.endswith(": not this call")
    command = (await transcripts.GetCommand(pb.GetCommandRequest(name=handoff.command))).command
    assert (command.state, command.handoff) == (pb.COMMAND_STATE_REFUSED, failed)
    await call.say(1, pb.ROLE_USER, "Where were we?")
    assert handoff.command not in call.commands
    assert await current_persona(transcripts, session) == playing
    # Settled: the call may be handed over again.
    assert (await started(handoffs, session, cfo.name)).state == hb.HANDOFF_STATE_AWAITING_APPROVAL
    await call.close(set())


async def test_a_held_handoff_nobody_approves_follows_the_escalation_path_then_fails_as_expired(
        transcripts, handoffs, approvals, personas, policies, expiry, cfo):
    session = await held_session(transcripts, personas, policies)
    handoff = await started(handoffs, session, cfo.name)

    await expiry.expire_due(await expire_time_of(approvals, handoff) + timedelta(seconds=1), 1000)
    escalated = await approval_of(approvals, handoff)
    assert (escalated.state, escalated.escalated_to) == (approval_pb.APPROVAL_STATE_PENDING, "queues/handoff-review")
    assert (await get(handoffs, handoff.name)).state == hb.HANDOFF_STATE_AWAITING_APPROVAL
    await expiry.expire_due(await expire_time_of(approvals, handoff) + timedelta(seconds=1), 1000)

    assert (await approval_of(approvals, handoff)).state == approval_pb.APPROVAL_STATE_EXPIRED
    failed = await get(handoffs, handoff.name)
    assert (failed.state, failed.failure_reason) == (
        hb.HANDOFF_STATE_FAILED, "its approval expired: nobody decided it at any step of the escalation path")
    assert await command_state(transcripts, handoff) == pb.COMMAND_STATE_REFUSED
    assert await current_persona(transcripts, session) != cfo.name


async def test_ending_the_session_fails_its_held_handoff_and_refuses_the_approval(
        transcripts, handoffs, approvals, personas, policies, cfo):
    session = await held_session(transcripts, personas, policies)
    handoff = await started(handoffs, session, cfo.name)

    await transcripts.EndSession(pb.EndSessionRequest(name=session))

    failed = await get(handoffs, handoff.name)
    assert (failed.state, failed.failure_reason) == (hb.HANDOFF_STATE_FAILED,
                                                     "its approval was refused: session ended")
    assert (await approval_of(approvals, handoff)).state == approval_pb.APPROVAL_STATE_REFUSED
    assert await command_state(transcripts, handoff) == pb.COMMAND_STATE_REFUSED


async def test_an_applied_handoff_suggestion_is_applied_as_its_held_handoff(
        analysed, analyses, rules, personas, policies, cfo):  # noqa: F811
    transcripts, handoffs = analysed
    persona = await persona_under(personas, policies, HANDOFF_NEEDS_APPROVAL, "approval_actions", "escalation_path")
    await rules.CreateSwitchingRule(rule(from_persona=persona, to_persona=cfo.name, pattern="pricing"))
    session, gateway, watch = await watched_call(transcripts, analyses, persona)
    reading = (await within_a_minute(watch.read)).analysis
    (suggested,) = [s for s in reading.suggestions if s.type == analysis_pb.SUGGESTION_TYPE_HANDOFF]

    applied = (await analyses.ApplySuggestion(analysis_pb.ApplySuggestionRequest(name=suggested.name))).suggestion

    (handoff,) = (await handoffs.ListHandoffs(hb.ListHandoffsRequest(parent=session))).handoffs
    assert (applied.state, applied.command) == (analysis_pb.SUGGESTION_STATE_APPLIED, handoff.command)
    assert handoff.state == hb.HANDOFF_STATE_AWAITING_APPROVAL
    watch.cancel()
    gateway.close()


async def test_a_switching_rule_that_applies_itself_has_its_handoff_held_too(
        analysed, analyses, rules, personas, policies, cfo):  # noqa: F811
    transcripts, handoffs = analysed
    persona = await persona_under(personas, policies, HANDOFF_NEEDS_APPROVAL, "approval_actions", "escalation_path")
    await rules.CreateSwitchingRule(rule(from_persona=persona, to_persona=cfo.name, pattern="pricing",
                                         auto_apply=True))
    session, gateway, watch = await watched_call(transcripts, analyses, persona)

    while not (event := await within_a_minute(watch.read)).HasField("suggestion"):
        pass

    assert event.suggestion.state == analysis_pb.SUGGESTION_STATE_APPLIED
    (handoff,) = (await handoffs.ListHandoffs(hb.ListHandoffsRequest(parent=session))).handoffs
    assert (handoff.state, handoff.command) == (hb.HANDOFF_STATE_AWAITING_APPROVAL, event.suggestion.command)
    assert await current_persona(transcripts, session) != cfo.name
    watch.cancel()
    gateway.close()


async def held_voice_call(voice_transcripts, voice_handoffs, personas, policies, voiced):
    """A voice call of a persona whose policy holds handoffs, its live round, and a handoff to a new persona held
    for approval: (session, first round, held handoff, new persona)."""
    transcripts, _ = voice_transcripts
    persona = await persona_under(personas, policies, HANDOFF_NEEDS_APPROVAL, "approval_actions")
    dana = await voiced(display_name="Dana Ortiz")
    session = await new_session(transcripts, persona=persona)
    first = await start_round(transcripts, session)
    return session, first, await started(voice_handoffs, session.name, dana), dana


async def test_a_held_voice_handoff_moves_the_call_to_the_agent_prepared_before_the_hold_once_approved(
        voice_transcripts, voice_handoffs, approvals, personas, policies, voiced):
    transcripts, _ = voice_transcripts
    session, first, handoff, dana = await held_voice_call(voice_transcripts, voice_handoffs, personas, policies,
                                                          voiced)
    assert (handoff.state, handoff.voice_agent.voice_round) == (hb.HANDOFF_STATE_AWAITING_APPROVAL,
                                                                f"{session.name}/voiceRounds/2")
    assert round_rows(await rounds_of(transcripts, session)) == [
        (1, session.persona, first.voice_agent, "", pb.VOICE_ROUND_END_REASON_UNSPECIFIED, False)]

    await approvals.ApproveApproval(approval_pb.ApproveApprovalRequest(name=handoff.approval))

    going = await get(voice_handoffs, handoff.name)
    assert (going.state, going.voice_agent) == (hb.HANDOFF_STATE_PENDING, handoff.voice_agent)
    assert round_rows(await rounds_of(transcripts, session)) == [
        (1, session.persona, first.voice_agent, "", pb.VOICE_ROUND_END_REASON_HANDOFF, True),
        (2, dana, handoff.voice_agent.voice_agent, handoff.name, pb.VOICE_ROUND_END_REASON_UNSPECIFIED, False)]


async def test_a_held_voice_handoff_whose_round_ended_meanwhile_changes_the_persona_alone_once_approved(
        voice_transcripts, voice_handoffs, approvals, personas, policies, voiced):
    transcripts, _ = voice_transcripts
    session, first, handoff, dana = await held_voice_call(voice_transcripts, voice_handoffs, personas, policies,
                                                          voiced)
    await transcripts.EndVoiceRound(pb.EndVoiceRoundRequest(name=first.name))

    await approvals.ApproveApproval(approval_pb.ApproveApprovalRequest(name=handoff.approval))

    going = await get(voice_handoffs, handoff.name)
    assert (going.state, going.HasField("voice_agent")) == (hb.HANDOFF_STATE_PENDING, False)
    assert await current_persona(transcripts, session.name) == dana
    assert [r.round_number for r in await rounds_of(transcripts, session)] == [1]


async def test_a_held_voice_handoff_fails_once_approved_if_another_round_opened_meanwhile(
        voice_transcripts, voice_handoffs, approvals, personas, policies, voiced):
    transcripts, _ = voice_transcripts
    session, first, handoff, _ = await held_voice_call(voice_transcripts, voice_handoffs, personas, policies, voiced)
    await transcripts.EndVoiceRound(pb.EndVoiceRoundRequest(name=first.name))
    await start_round(transcripts, session)

    approved = (await approvals.ApproveApproval(approval_pb.ApproveApprovalRequest(name=handoff.approval))).approval

    assert approved.state == approval_pb.APPROVAL_STATE_APPROVED
    failed = await get(voice_handoffs, handoff.name)
    assert (failed.state, failed.failure_reason) == (
        hb.HANDOFF_STATE_FAILED, "voice round 2 opened while it awaited its approval; start it again")
    assert await command_state(transcripts, handoff) == pb.COMMAND_STATE_REFUSED
    assert await current_persona(transcripts, session.name) == session.persona
