"""SwitchingRuleService over gRPC: requests to use cases, results to responses."""

from __future__ import annotations

from datetime import UTC, datetime

from sparring.analysis.v1 import switching_rule_service_pb2 as pb
from sparring.analysis.v1 import switching_rule_service_pb2_grpc

from analysis_svc.domain.suggestions import CallStage
from analysis_svc.domain.switching import SwitchingRule
from analysis_svc.service_layer.switching_rules import SwitchingRules
from svckit import names
from svckit.context import current_call
from svckit.enums import enum_of
from svckit.times import timestamp
from svckit.usecase import mutation_of

_STAGES: dict[int, str] = {pb.CALL_STAGE_UNSPECIFIED: "", pb.CALL_STAGE_EARLY: CallStage.EARLY.value,
           pb.CALL_STAGE_MIDDLE: CallStage.MIDDLE.value, pb.CALL_STAGE_LATE: CallStage.LATE.value}
_STAGE_ENUMS = {value: pb.CallStage.ValueType(number) for number, value in _STAGES.items()}


def _draft(message: pb.SwitchingRule) -> SwitchingRule:
    field = "switching_rule"
    if message.from_persona:
        names.resource_id(message.from_persona, "personas", f"{field}.from_persona")
    if message.to_persona:
        names.resource_id(message.to_persona, "personas", f"{field}.to_persona")
    for index, fallback in enumerate(message.fallback_personas):
        names.resource_id(fallback, "personas", f"{field}.fallback_personas[{index}]")
    return SwitchingRule(
        id="", from_persona=message.from_persona, to_persona=message.to_persona,
        fallback_personas=tuple(message.fallback_personas), priority=message.priority, pattern=message.pattern,
        say_meter_below=message.say_meter_below, stage=enum_of(_STAGES, message.stage, f"{field}.stage", pb.CallStage),
        reason=message.reason, auto_apply=message.auto_apply, create_time=datetime.now(UTC))


def _message(rule: SwitchingRule) -> pb.SwitchingRule:
    return pb.SwitchingRule(
        name=rule.resource_name, from_persona=rule.from_persona, to_persona=rule.to_persona,
        fallback_personas=rule.fallback_personas, priority=rule.priority, pattern=rule.pattern,
        say_meter_below=rule.say_meter_below, stage=_STAGE_ENUMS[rule.stage], reason=rule.reason,
        auto_apply=rule.auto_apply, create_time=timestamp(rule.create_time))


class SwitchingRuleServicer(switching_rule_service_pb2_grpc.SwitchingRuleServiceServicer):
    def __init__(self, rules: SwitchingRules) -> None:
        self._rules = rules

    async def CreateSwitchingRule(self, request: pb.CreateSwitchingRuleRequest,
                                  context) -> pb.CreateSwitchingRuleResponse:
        rule = await self._rules.create(_draft(request.switching_rule), request.switching_rule_id,
                                        mutation_of(request))
        return pb.CreateSwitchingRuleResponse(switching_rule=_message(rule))

    async def GetSwitchingRule(self, request: pb.GetSwitchingRuleRequest, context) -> pb.GetSwitchingRuleResponse:
        rule = await self._rules.get(current_call().organization,
                                     names.resource_id(request.name, "switchingRules", "name"))
        return pb.GetSwitchingRuleResponse(switching_rule=_message(rule))

    async def ListSwitchingRules(self, request: pb.ListSwitchingRulesRequest,
                                 context) -> pb.ListSwitchingRulesResponse:
        rules = await self._rules.list(current_call().organization)
        return pb.ListSwitchingRulesResponse(switching_rules=[_message(rule) for rule in rules])

    async def DeleteSwitchingRule(self, request: pb.DeleteSwitchingRuleRequest,
                                  context) -> pb.DeleteSwitchingRuleResponse:
        await self._rules.delete(names.resource_id(request.name, "switchingRules", "name"), mutation_of(request))
        return pb.DeleteSwitchingRuleResponse()
