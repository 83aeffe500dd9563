"""SafetyPolicyService over gRPC: requests to use cases, results to responses, nothing else."""

from __future__ import annotations

from typing import TypeAlias

import grpc
from sparring.persona.v1 import safety_policy_service_pb2 as pb
from sparring.persona.v1 import safety_policy_service_pb2_grpc

from persona_svc.entrypoints import safety_convert as convert
from persona_svc.service_layer.safety_policies import SafetyPolicies
from svckit.context import current_call
from svckit.errors import FieldViolation, InvalidArgument
from svckit.fieldmask import resolve_update_mask
from svckit.usecase import mutation_of

Context: TypeAlias = grpc.aio.ServicerContext


class SafetyPolicyServicer(safety_policy_service_pb2_grpc.SafetyPolicyServiceServicer):
    def __init__(self, policies: SafetyPolicies) -> None:
        self._policies = policies

    async def GetSafetyPolicy(self, request: pb.GetSafetyPolicyRequest, context: Context) -> pb.GetSafetyPolicyResponse:
        organization = current_call().organization
        policy = await self._policies.get(organization, convert.policy_ref(request.name, "name", organization))
        return pb.GetSafetyPolicyResponse(policy=convert.policy_message(organization, policy))

    async def UpdateSafetyPolicy(self, request: pb.UpdateSafetyPolicyRequest,
                                 context: Context) -> pb.UpdateSafetyPolicyResponse:
        organization = current_call().organization
        persona_id = convert.policy_ref(request.policy.name, "policy.name", organization)
        mask = resolve_update_mask(request.update_mask, convert.POLICY_WRITABLE, convert.POLICY_OUTPUT_ONLY)
        policy = await self._policies.update(organization, persona_id, convert.policy_fields(request.policy, mask),
                                             mask, request.policy.etag, mutation_of(request))
        return pb.UpdateSafetyPolicyResponse(policy=convert.policy_message(organization, policy))

    async def ListSafetyPolicyVersions(self, request: pb.ListSafetyPolicyVersionsRequest,
                                       context: Context) -> pb.ListSafetyPolicyVersionsResponse:
        organization = current_call().organization
        persona_id = convert.policy_ref(request.parent, "parent", organization)
        page = await self._policies.list_versions(organization, persona_id, request.page_size, request.page_token)
        return pb.ListSafetyPolicyVersionsResponse(
            versions=[convert.version_message(organization, v) for v in page.items],
            next_page_token=page.next_page_token)

    async def RollbackSafetyPolicy(self, request: pb.RollbackSafetyPolicyRequest,
                                   context: Context) -> pb.RollbackSafetyPolicyResponse:
        organization = current_call().organization
        persona_id = convert.policy_ref(request.name, "name", organization)
        version_policy, revision = convert.version_ref(request.version, "version", organization)
        if version_policy != persona_id:
            raise InvalidArgument(FieldViolation("version", f"is not a version of {request.name}"))
        policy = await self._policies.rollback(organization, persona_id, revision, request.etag,
                                               mutation_of(request))
        return pb.RollbackSafetyPolicyResponse(policy=convert.policy_message(organization, policy))
