"""ApprovalService: proto <-> domain for the approvals of held commands."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sparring.transcript.v1 import approval_service_pb2 as pb
from sparring.transcript.v1 import approval_service_pb2_grpc

from svckit import names
from svckit.context import current_call
from svckit.enums import enum_filter
from svckit.errors import FieldViolation, InvalidArgument
from svckit.times import timestamp
from transcript_svc.domain.approvals import Approval, ApprovalState
from transcript_svc.entrypoints.convert import child_ref, command_type_enum, session_id_of
from transcript_svc.service_layer.approval_watch import ApprovalWatch
from transcript_svc.service_layer.approvals import ApprovalDesk, ApprovalParent

_STATES = {ApprovalState.PENDING: pb.APPROVAL_STATE_PENDING, ApprovalState.APPROVED: pb.APPROVAL_STATE_APPROVED,
           ApprovalState.REJECTED: pb.APPROVAL_STATE_REJECTED, ApprovalState.EXPIRED: pb.APPROVAL_STATE_EXPIRED,
           ApprovalState.REFUSED: pb.APPROVAL_STATE_REFUSED}
_STATE_OF: dict[int, ApprovalState] = {value: state for state, value in _STATES.items()}


def approval_ref(name: str) -> tuple[str, str]:
    session_id, approval_id = child_ref(name, "approvals", "name")
    if not names.valid_id(approval_id):
        raise InvalidArgument(FieldViolation("name", f"{approval_id[:100]!r} is not an approval id"))
    return session_id, approval_id


def approval_parent(parent: str) -> ApprovalParent:
    """A session ("sessions/{id}") or a human queue ("queues/{id}")."""
    if parent.startswith("queues/"):
        return ApprovalParent("queues", names.resource_id(parent, "queues", "parent"))
    return ApprovalParent("sessions", session_id_of(parent, "parent"))


def approval_message(approval: Approval) -> pb.Approval:
    return pb.Approval(
        name=approval.resource_name, command=approval.command_name, action=command_type_enum(approval.action),
        requester=approval.requester, rule=approval.rule, policy=approval.policy,
        policy_revision=approval.policy_revision, state=_STATES[approval.state],
        create_time=timestamp(approval.create_time), expire_time=timestamp(approval.expire_time),
        decider=approval.decider, decide_time=timestamp(approval.decide_time),
        decision_reason=approval.decision_reason, escalated_to=approval.escalated_to,
        handoff=pb.HeldHandoff(handoff=approval.handoff.handoff, from_persona=approval.handoff.from_persona,
                               to_persona=approval.handoff.to_persona, reason=approval.handoff.reason)
        if approval.handoff else None,
    )


class ApprovalServicer(approval_service_pb2_grpc.ApprovalServiceServicer):
    def __init__(self, desk: ApprovalDesk, watch: ApprovalWatch) -> None:
        self._desk = desk
        self._watch = watch

    async def GetApproval(self, request: pb.GetApprovalRequest, context) -> pb.GetApprovalResponse:
        approval = await self._desk.get(current_call().principal, *approval_ref(request.name))
        return pb.GetApprovalResponse(approval=approval_message(approval))

    async def ListApprovals(self, request: pb.ListApprovalsRequest, context) -> pb.ListApprovalsResponse:
        parent = approval_parent(request.parent)
        state = enum_filter(_STATE_OF, request.state, "state", pb.ApprovalState)
        page = await self._desk.list(current_call().principal, parent, state.value if state else None,
                                     request.page_size, request.page_token)
        return pb.ListApprovalsResponse(approvals=[approval_message(approval) for approval in page.items],
                                        next_page_token=page.next_page_token)

    async def WatchApprovals(self, request: pb.WatchApprovalsRequest,
                             context) -> AsyncIterator[pb.WatchApprovalsResponse]:
        session_id = session_id_of(request.parent, "parent")
        async for approval in self._watch.watch(current_call().principal, session_id):
            yield pb.WatchApprovalsResponse(approval=approval_message(approval))

    async def ApproveApproval(self, request: pb.ApproveApprovalRequest, context) -> pb.ApproveApprovalResponse:
        approval = await self._desk.approve(current_call().principal, *approval_ref(request.name))
        return pb.ApproveApprovalResponse(approval=approval_message(approval))

    async def RejectApproval(self, request: pb.RejectApprovalRequest, context) -> pb.RejectApprovalResponse:
        approval = await self._desk.reject(current_call().principal, *approval_ref(request.name), request.reason)
        return pb.RejectApprovalResponse(approval=approval_message(approval))
