"""A command the persona's safety policy holds for approval waits as an approval (who asked, what, why, until when):
approved by someone allowed to, it reaches the live call; rejected, or left undecided along the whole of the policy's
escalation path, it is refused and never sent. A decided or expired approval, or a caller without the right, changes
nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import field_mask_pb2
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.persona.v1 import safety_policy_service_pb2 as policy_pb
from sparring.transcript.v1 import approval_service_pb2 as pb
from sparring.transcript.v1 import approval_service_pb2_grpc, transcript_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb

from persona_svc.app import ERROR_DOMAIN as PERSONA_DOMAIN
from tests.builders import new_persona
from tests.e2e.status_details import rejected_in
from tests.e2e.test_preflight import HARDER, HINT, LiveCall, send, session_under
from tests.e2e.transcript_checks import rejected, stream_ended_with
from tests.e2e.transcript_fixtures import new_session, persona_under
from tests.security import OTHER_ORGANIZATION, token

NEEDS_APPROVAL = policy_pb.SafetyPolicy(approval_actions=[policy_pb.SAFETY_ACTION_DIFFICULTY_CHANGE],
                                        escalation_path=["queues/hiring-review"])


async def held_command(transcripts, personas, policies) -> tuple[str, transcript_pb.Command]:
    session = await session_under(transcripts, personas, policies, NEEDS_APPROVAL, "approval_actions",
                                  "escalation_path")
    return session, await send(transcripts, session, HARDER)


async def approval_of(approvals, command: transcript_pb.Command) -> pb.Approval:
    return (await approvals.GetApproval(pb.GetApprovalRequest(name=command.approval))).approval


async def command_state(transcripts, command: transcript_pb.Command) -> int:
    return (await transcripts.GetCommand(transcript_pb.GetCommandRequest(name=command.name))).command.state


async def test_a_held_command_waits_as_an_approval_and_reaches_the_call_once_approved(
        transcripts, personas, policies, approvals):
    session = await session_under(transcripts, personas, policies, NEEDS_APPROVAL, "approval_actions")
    call = LiveCall(transcripts, session)
    await call.open()
    hint = await send(transcripts, session, HINT)

    held = await send(transcripts, session, HARDER)

    assert held.state == transcript_pb.COMMAND_STATE_AWAITING_APPROVAL
    assert held.approval == held.name.replace("/commands/", "/approvals/")
    approval = await approval_of(approvals, held)
    assert (approval.state, approval.command, approval.action, approval.rule) == (
        pb.APPROVAL_STATE_PENDING, held.name, transcript_pb.COMMAND_TYPE_DIFFICULTY_CHANGE, "approval_actions")
    assert approval.requester and approval.policy.endswith("/safetyPolicy")
    assert approval.expire_time.ToDatetime() > approval.create_time.ToDatetime()
    pending = await approvals.ListApprovals(pb.ListApprovalsRequest(parent=session, state=pb.APPROVAL_STATE_PENDING))
    assert [listed.name for listed in pending.approvals] == [approval.name]

    approved = (await approvals.ApproveApproval(pb.ApproveApprovalRequest(name=approval.name))).approval

    assert approved.state == pb.APPROVAL_STATE_APPROVED and approved.decider
    await call.close({hint.name, held.name})  # the approved command reached the live call
    assert await command_state(transcripts, held) != transcript_pb.COMMAND_STATE_AWAITING_APPROVAL


async def test_a_rejected_approval_refuses_its_command_and_cannot_be_decided_again(
        transcripts, personas, policies, approvals):
    _, held = await held_command(transcripts, personas, policies)

    rejected_approval = (await approvals.RejectApproval(pb.RejectApprovalRequest(
        name=held.approval, reason="too early in the call"))).approval

    assert (rejected_approval.state, rejected_approval.decision_reason) == (pb.APPROVAL_STATE_REJECTED,
                                                                           "too early in the call")
    assert await command_state(transcripts, held) == transcript_pb.COMMAND_STATE_REFUSED
    again = await rejected(approvals.ApproveApproval(pb.ApproveApprovalRequest(name=held.approval)),
                           grpc.StatusCode.FAILED_PRECONDITION)
    assert (again.reason, again.info.metadata["field"], again.info.metadata["state"]) == (
        "APPROVAL_ALREADY_DECIDED", "name", "REJECTED")
    assert (await approval_of(approvals, held)).state == pb.APPROVAL_STATE_REJECTED
    assert await command_state(transcripts, held) == transcript_pb.COMMAND_STATE_REFUSED


async def expire_time_of(approvals, command: transcript_pb.Command) -> datetime:
    return (await approval_of(approvals, command)).expire_time.ToDatetime().replace(tzinfo=UTC)


async def test_an_approval_nobody_decides_moves_along_the_escalation_path_then_expires_refusing_its_command(
        transcripts, personas, policies, approvals, expiry):
    _, held = await held_command(transcripts, personas, policies)
    expire_time = await expire_time_of(approvals, held)

    await expiry.expire_due(expire_time - timedelta(seconds=1), 1000)
    assert (await approval_of(approvals, held)).state == pb.APPROVAL_STATE_PENDING
    await expiry.expire_due(expire_time + timedelta(seconds=1), 1000)
    escalated = await approval_of(approvals, held)
    assert (escalated.state, escalated.escalated_to) == (pb.APPROVAL_STATE_PENDING, "queues/hiring-review")
    assert await expire_time_of(approvals, held) > expire_time
    await expiry.expire_due(await expire_time_of(approvals, held) + timedelta(seconds=1), 1000)

    expired = await approval_of(approvals, held)
    assert (expired.state, expired.escalated_to) == (pb.APPROVAL_STATE_EXPIRED, "queues/hiring-review")
    assert await command_state(transcripts, held) == transcript_pb.COMMAND_STATE_REFUSED
    late = await rejected(approvals.ApproveApproval(pb.ApproveApprovalRequest(name=held.approval)),
                          grpc.StatusCode.FAILED_PRECONDITION)
    assert (late.reason, late.info.metadata["state"]) == ("APPROVAL_ALREADY_DECIDED", "EXPIRED")


async def test_an_approval_escalated_to_a_persona_is_decided_by_that_personas_owner(
        transcripts, personas, authors, policies, approvals, expiry, transcript_server, connect):
    backup = (await authors.CreatePersona(persona_pb.CreatePersonaRequest(persona=new_persona()))).persona.name
    session = await session_under(transcripts, personas, policies, policy_pb.SafetyPolicy(
        approval_actions=[policy_pb.SAFETY_ACTION_DIFFICULTY_CHANGE], escalation_path=[backup]),
        "approval_actions", "escalation_path")
    held = await send(transcripts, session, HARDER)
    backup_owner = approval_service_pb2_grpc.ApprovalServiceStub(connect(transcript_server, token("author")))
    await rejected(backup_owner.ApproveApproval(pb.ApproveApprovalRequest(name=held.approval)),
                   grpc.StatusCode.PERMISSION_DENIED)

    await expiry.expire_due(await expire_time_of(approvals, held) + timedelta(seconds=1), 1000)

    approved = (await backup_owner.ApproveApproval(pb.ApproveApprovalRequest(name=held.approval))).approval
    assert (approved.state, approved.escalated_to) == (pb.APPROVAL_STATE_APPROVED, backup)


async def test_a_human_queue_lists_the_approvals_escalated_to_it_to_the_roles_that_may_decide_them(
        transcripts, personas, policies, approvals, expiry, transcript_server, connect):
    queue = f"queues/review-{uuid.uuid4().hex[:8]}"
    session = await session_under(transcripts, personas, policies, policy_pb.SafetyPolicy(
        approval_actions=[policy_pb.SAFETY_ACTION_DIFFICULTY_CHANGE], escalation_path=[queue],
        approver_roles=["analyst"]), "approval_actions", "escalation_path", "approver_roles")
    held = [await send(transcripts, session, HARDER) for _ in range(2)]
    await expiry.expire_due(max([await expire_time_of(approvals, command) for command in held]) + timedelta(seconds=1),
                            1000)
    analyst, interviewer = (approval_service_pb2_grpc.ApprovalServiceStub(connect(transcript_server, token(role)))
                            for role in ("analyst", "interviewer"))

    pages, token_ = [], ""
    while True:
        page = await analyst.ListApprovals(pb.ListApprovalsRequest(parent=queue, state=pb.APPROVAL_STATE_PENDING,
                                                                   page_size=1, page_token=token_))
        pages.append([approval.name for approval in page.approvals])
        token_ = page.next_page_token
        if not token_:
            break

    assert pages == [[held[0].approval], [held[1].approval]]
    listed = await interviewer.ListApprovals(pb.ListApprovalsRequest(parent=queue))
    assert list(listed.approvals) == []
    admin_listed = await approvals.ListApprovals(pb.ListApprovalsRequest(parent=queue))
    assert [approval.name for approval in admin_listed.approvals] == [command.approval for command in held]


async def test_an_approval_is_decided_by_an_admin_of_its_organization_or_an_owner_of_its_persona(
        transcripts, authors, policies, approvals, transcript_server, connect):
    session = await session_under(transcripts, authors, policies, NEEDS_APPROVAL, "approval_actions")
    first = await send(transcripts, session, HARDER)
    second = await send(transcripts, session, HARDER)
    interviewer, other_admin, owner = (approval_service_pb2_grpc.ApprovalServiceStub(connect(transcript_server, bearer))
                                       for bearer in (token("interviewer"),
                                                      token("admin", organization=OTHER_ORGANIZATION),
                                                      token("author")))

    stranger = await rejected(interviewer.ApproveApproval(pb.ApproveApprovalRequest(name=first.approval)),
                              grpc.StatusCode.PERMISSION_DENIED)
    await rejected(other_admin.ApproveApproval(pb.ApproveApprovalRequest(name=first.approval)),
                   grpc.StatusCode.NOT_FOUND)

    assert (stranger.reason, stranger.info.metadata["field"]) == ("NOT_AN_APPROVER", "name")
    assert (await approval_of(approvals, first)).state == pb.APPROVAL_STATE_PENDING
    assert await command_state(transcripts, first) == transcript_pb.COMMAND_STATE_AWAITING_APPROVAL
    approved = (await owner.ApproveApproval(pb.ApproveApprovalRequest(name=first.approval))).approval
    assert approved.state == pb.APPROVAL_STATE_APPROVED
    assert (await approvals.ApproveApproval(pb.ApproveApprovalRequest(name=second.approval))).approval.decider


async def test_a_role_the_policy_names_decides_approvals_but_never_its_own_request(
        personas, policies, transcript_server, connect):
    as_interviewer = transcript_service_pb2_grpc.TranscriptServiceStub(
        connect(transcript_server, token("interviewer")))
    policy = policy_pb.SafetyPolicy(approval_actions=[policy_pb.SAFETY_ACTION_DIFFICULTY_CHANGE],
                                    approver_roles=["interviewer", "analyst"])
    session = await session_under(as_interviewer, personas, policies, policy, "approval_actions", "approver_roles")
    held = await send(as_interviewer, session, HARDER)
    own, analyst = (approval_service_pb2_grpc.ApprovalServiceStub(connect(transcript_server, bearer))
                    for bearer in (token("interviewer"), token("analyst")))

    refusal = await rejected(own.ApproveApproval(pb.ApproveApprovalRequest(name=held.approval)),
                             grpc.StatusCode.PERMISSION_DENIED)
    assert refusal.reason == "OWN_REQUEST"
    rejected_approval = (await analyst.RejectApproval(pb.RejectApprovalRequest(name=held.approval))).approval
    assert rejected_approval.state == pb.APPROVAL_STATE_REJECTED


async def test_a_policy_naming_a_role_that_may_not_approve_is_refused_naming_it(personas, policies):
    persona = await persona_under(personas, policies, policy_pb.SafetyPolicy(), "approver_roles")
    before = (await policies.GetSafetyPolicy(policy_pb.GetSafetyPolicyRequest(name=f"{persona}/safetyPolicy"))).policy

    bad = await rejected_in(PERSONA_DOMAIN, policies.UpdateSafetyPolicy(policy_pb.UpdateSafetyPolicyRequest(
        policy=policy_pb.SafetyPolicy(name=before.name, approver_roles=["analyst", "gateway", "analyst"]),
        update_mask=field_mask_pb2.FieldMask(paths=["approver_roles"]))), grpc.StatusCode.INVALID_ARGUMENT)

    assert bad.fields == ["policy.approver_roles[1]", "policy.approver_roles[2]"]
    after = (await policies.GetSafetyPolicy(policy_pb.GetSafetyPolicyRequest(name=before.name))).policy
    assert after == before


async def test_an_approval_name_or_parent_that_is_not_one_names_the_field(approvals):
    bad = await rejected(approvals.ApproveApproval(pb.ApproveApprovalRequest(name="sessions/x/commands/y")),
                         grpc.StatusCode.INVALID_ARGUMENT)
    assert bad.fields == ["name"]
    bad_parent = await rejected(approvals.ListApprovals(pb.ListApprovalsRequest(parent="teams/x")),
                                grpc.StatusCode.INVALID_ARGUMENT)
    assert bad_parent.fields == ["parent"]


async def next_in_state(watch, state: int) -> pb.Approval:
    """The next approval the watch stream sends in ``state``."""
    async for change in watch:
        if change.approval.state == state:
            return change.approval
    raise AssertionError("the watch stream ended")


async def test_the_interviewer_watches_approvals_asked_for_and_decided_live(transcripts, personas, policies, approvals):
    session = await session_under(transcripts, personas, policies, NEEDS_APPROVAL, "approval_actions")
    watch = approvals.WatchApprovals(pb.WatchApprovalsRequest(parent=session))

    held = await send(transcripts, session, HARDER)
    asked = await next_in_state(watch, pb.APPROVAL_STATE_PENDING)
    await approvals.RejectApproval(pb.RejectApprovalRequest(name=held.approval))
    decided = await next_in_state(watch, pb.APPROVAL_STATE_REJECTED)
    watch.cancel()

    assert asked.name == decided.name == held.approval


async def test_another_interviewer_may_not_watch_a_sessions_approvals(transcripts, transcript_server, connect):
    session = (await new_session(transcripts)).name
    stranger = approval_service_pb2_grpc.ApprovalServiceStub(
        connect(transcript_server, token("interviewer", subject="stranger@acme")))
    refusal = await stream_ended_with(stranger.WatchApprovals(pb.WatchApprovalsRequest(parent=session)),
                                      grpc.StatusCode.PERMISSION_DENIED)
    assert refusal.reason == "NOT_A_PARTICIPANT"


async def test_a_gateway_acknowledging_a_held_command_does_not_take_it_past_its_approval(
        transcripts, personas, policies, approvals):
    session, held = await held_command(transcripts, personas, policies)
    call = LiveCall(transcripts, session)
    await call.open()
    call.gateway.send(transcript_pb.StreamSessionRequest(command_ack=transcript_pb.CommandAck(command=held.name)))
    await call.say(1, transcript_pb.ROLE_USER, "Where were we?")  # acked after the command ack was handled

    assert await command_state(transcripts, held) == transcript_pb.COMMAND_STATE_AWAITING_APPROVAL
    await approvals.ApproveApproval(pb.ApproveApprovalRequest(name=held.approval))
    await call.close({held.name})
