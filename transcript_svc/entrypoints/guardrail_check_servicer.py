"""GuardrailCheckService: proto <-> domain for the guardrail check log."""

from __future__ import annotations

from sparring.transcript.v1 import guardrail_check_service_pb2 as pb
from sparring.transcript.v1 import guardrail_check_service_pb2_grpc

from guardrails.check_log import CheckDecision, CheckKind, GuardrailCheck
from svckit import names
from svckit.context import current_call
from svckit.enums import enum_filter, enum_of
from svckit.times import timestamp
from svckit.usecase import Mutation, fingerprint
from transcript_svc.entrypoints.convert import session_id_of
from transcript_svc.service_layer.guardrail_checks import CheckParent, GuardrailCheckLog, InputFinding

_KINDS = {kind: pb.GuardrailCheckKind.Value(f"GUARDRAIL_CHECK_KIND_{kind.name}") for kind in CheckKind}
_KIND_OF: dict[int, CheckKind] = {value: kind for kind, value in _KINDS.items()}
_DECISIONS = {decision: pb.GuardrailDecision.Value(f"GUARDRAIL_DECISION_{decision.name}") for decision in CheckDecision}
_DECISION_OF: dict[int, CheckDecision] = {value: decision for decision, value in _DECISIONS.items()}


def check_parent(parent: str) -> CheckParent:
    """A session ("sessions/{id}") or a persona ("personas/{id}")."""
    if parent.startswith("personas/"):
        return CheckParent("personas", names.resource_id(parent, "personas", "parent"))
    return CheckParent("sessions", session_id_of(parent, "parent"))


def check_message(check: GuardrailCheck) -> pb.GuardrailCheck:
    return pb.GuardrailCheck(
        name=check.resource_name, persona=check.persona, policy=check.policy, policy_revision=check.policy_revision,
        kind=_KINDS[check.kind], decision=_DECISIONS[check.decision], rule=check.rule, input=check.input,
        actor=check.actor, subject=check.subject, create_time=timestamp(check.create_time))


class GuardrailCheckServicer(guardrail_check_service_pb2_grpc.GuardrailCheckServiceServicer):
    def __init__(self, log: GuardrailCheckLog) -> None:
        self._log = log

    async def ListGuardrailChecks(self, request: pb.ListGuardrailChecksRequest,
                                  context) -> pb.ListGuardrailChecksResponse:
        parent = check_parent(request.parent)
        kind = enum_filter(_KIND_OF, request.kind, "kind", pb.GuardrailCheckKind)
        decision = enum_filter(_DECISION_OF, request.decision, "decision", pb.GuardrailDecision)
        page = await self._log.list(current_call().principal, parent, kind, decision, request.page_size,
                                    request.page_token)
        return pb.ListGuardrailChecksResponse(guardrail_checks=[check_message(check) for check in page.items],
                                              next_page_token=page.next_page_token)

    async def RecordInputFilterFindings(self, request: pb.RecordInputFilterFindingsRequest,
                                        context) -> pb.RecordInputFilterFindingsResponse:
        findings = [InputFinding(f.rule, enum_of(_DECISION_OF, f.decision, f"findings[{n}].decision",
                                                 pb.GuardrailDecision), f.message_sequence, f.quote)
                    for n, f in enumerate(request.findings)]
        # The reading is the request's identity: a repeated delivery of it changes nothing.
        mutation = Mutation(current_call(), request.reading, fingerprint(request))
        await self._log.record_input_findings(session_id_of(request.parent, "parent"), request.reading, findings,
                                              mutation)
        return pb.RecordInputFilterFindingsResponse()
