"""Switching rules through the public API: stored and validated (RE2 patterns), evaluated at the live readings of
a call, raising a handoff suggestion the interviewer applies, or that applies itself, with a fallback chain; the
persona's safety policy checks the handoff like any command."""

from __future__ import annotations

import asyncio

import grpc
import pytest_asyncio
import sqlalchemy as sa
from sparring.analysis.v1 import analysis_service_pb2 as analysis_pb
from sparring.analysis.v1 import switching_rule_service_pb2 as rb
from sparring.analysis.v1 import switching_rule_service_pb2_grpc
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.persona.v1 import safety_policy_service_pb2 as policy_pb
from sparring.transcript.v1 import handoff_service_pb2 as hb
from sparring.transcript.v1 import transcript_service_pb2 as pb

from devtools.gateway import Gateway
from tests.builders import new_persona, uid
from tests.e2e.status_details import rejected_in, retry_delay_of
from tests.e2e.test_handoff import analysed, cfo  # noqa: F401 (fixtures)
from tests.e2e.test_persona_api import create
from tests.e2e.transcript_fixtures import persona_under, utterance
from tests.security import OTHER_ORGANIZATION, secure_channel, token

DOMAIN = "analysis.sparring.dev"
# A call whose first reading (at its fourth message) sees the candidate ask about pricing.
PRICING_CALL = [(pb.ROLE_ASSISTANT, "Thanks for making the time today."),
                (pb.ROLE_USER, "Happy to. We ship about a thousand orders a day."),
                (pb.ROLE_USER, "So what does the pricing look like for a team our size?"),
                (pb.ROLE_ASSISTANT, "Let me think about who should answer that.")]


@pytest_asyncio.fixture
async def rules(analysis_server):
    async with secure_channel(analysis_server) as channel:
        yield switching_rule_service_pb2_grpc.SwitchingRuleServiceStub(channel)


async def playing_persona(personas) -> str:
    """A persona of its own, so the rules of a test fire in its calls only (rules are the organization's)."""
    return (await create(personas, new_persona())).name


async def within_a_minute(read):
    """A frame the call must send: a failure upstream fails the test rather than leaving it waiting."""
    async with asyncio.timeout(60):
        return await read()


def rule(**fields) -> rb.CreateSwitchingRuleRequest:
    values = {"reason": "Pricing questions go to finance", "priority": 10, **fields}
    return rb.CreateSwitchingRuleRequest(switching_rule=rb.SwitchingRule(**values))


async def watched_call(transcripts, analyses, persona: str):
    """A live session of ``persona`` with PRICING_CALL streamed in, watched from its start: (session, gateway,
    watch), the watch past its snapshot."""
    session = (await transcripts.CreateSession(pb.CreateSessionRequest(session=pb.Session(
        persona=persona, scenario="scenarios/q2-cost-reduction", blueprint=persona_pb.BLUEPRINT_SALES),
        session_id=f"call-{uid()}"))).session.name
    watch = analyses.WatchSession(analysis_pb.WatchSessionRequest(session=session))
    await watch.read()
    gateway = Gateway(transcripts, session)
    await gateway.read()
    gateway.send(*(utterance(n, text, role) for n, (role, text) in enumerate(PRICING_CALL, start=1)))
    await gateway.acks_until(len(PRICING_CALL))
    return session, gateway, watch


async def test_rules_are_validated_stored_and_kept_to_their_organization(rules, personas, connect, analysis_server):
    persona = await playing_persona(personas)
    for fields, bad in (({"to_persona": persona, "pattern": "(?=pricing)"}, ["switching_rule.pattern"]),
                        ({"to_persona": persona, "pattern": r"(a)\1"}, ["switching_rule.pattern"]),
                        ({"to_persona": persona, "pattern": "x" * 501}, ["switching_rule.pattern"]),
                        ({"to_persona": persona}, ["switching_rule.pattern"]),
                        ({"from_persona": persona, "to_persona": persona, "stage": rb.CALL_STAGE_LATE},
                         ["switching_rule.to_persona"]),
                        ({"to_persona": persona, "say_meter_below": 101, "priority": 101, "reason": ""},
                         ["switching_rule.say_meter_below", "switching_rule.priority", "switching_rule.reason"]),
                        ({"to_persona": "people/ann", "stage": rb.CALL_STAGE_LATE}, ["switching_rule.to_persona"])):
        refused = await rejected_in(DOMAIN, rules.CreateSwitchingRule(rule(**fields)),
                                    grpc.StatusCode.INVALID_ARGUMENT)
        assert refused.fields == bad
    listed = (await rules.ListSwitchingRules(rb.ListSwitchingRulesRequest())).switching_rules
    assert persona not in [r.to_persona for r in listed]

    created = (await rules.CreateSwitchingRule(rule(
        from_persona=persona, to_persona="personas/sarah-chen", pattern=r"\bpric(e|ing)\b"))).switching_rule
    assert (await rules.GetSwitchingRule(rb.GetSwitchingRuleRequest(name=created.name))).switching_rule == created
    other = switching_rule_service_pb2_grpc.SwitchingRuleServiceStub(
        connect(analysis_server, token("admin", organization=OTHER_ORGANIZATION)))
    for call in (other.GetSwitchingRule(rb.GetSwitchingRuleRequest(name=created.name)),
                 other.DeleteSwitchingRule(rb.DeleteSwitchingRuleRequest(name=created.name))):
        assert (await rejected_in(DOMAIN, call, grpc.StatusCode.NOT_FOUND)).reason == "SWITCHING_RULE_NOT_FOUND"
    await rules.DeleteSwitchingRule(rb.DeleteSwitchingRuleRequest(name=created.name))
    assert (await rejected_in(DOMAIN, rules.GetSwitchingRule(rb.GetSwitchingRuleRequest(name=created.name)),
                              grpc.StatusCode.NOT_FOUND)).reason == "SWITCHING_RULE_NOT_FOUND"


async def test_a_rule_raises_a_handoff_suggestion_that_the_interviewer_applies(
        analysed, analyses, rules, personas, cfo):  # noqa: F811
    transcripts, handoffs = analysed
    persona = await playing_persona(personas)
    await rules.CreateSwitchingRule(rule(from_persona=persona, to_persona="personas/sarah-chen", priority=1,
                                         pattern="pricing"))
    firing = (await rules.CreateSwitchingRule(rule(from_persona=persona, to_persona=cfo.name, priority=50,
                                                   pattern=r"\bpric(e|ing)\b"))).switching_rule
    session, gateway, watch = await watched_call(transcripts, analyses, persona)

    reading = (await within_a_minute(watch.read)).analysis
    (suggested,) = [s for s in reading.suggestions if s.type == analysis_pb.SUGGESTION_TYPE_HANDOFF]
    assert (suggested.switching_rule, suggested.text, suggested.state) == (
        firing.name, "Pricing questions go to finance", analysis_pb.SUGGESTION_STATE_OPEN)
    applied = (await analyses.ApplySuggestion(analysis_pb.ApplySuggestionRequest(name=suggested.name))).suggestion
    (handoff,) = (await handoffs.ListHandoffs(hb.ListHandoffsRequest(parent=session))).handoffs
    assert (handoff.accepted_persona, handoff.reason, handoff.command) == (
        cfo.name, firing.reason, applied.command)
    assert (await within_a_minute(gateway.read)).command.handoff.name == handoff.name
    watch.cancel()
    gateway.close()


async def test_a_rule_that_applies_itself_hands_the_call_to_its_first_usable_fallback(
        analysed, analyses, rules, personas, cfo, deleted_persona):  # noqa: F811
    transcripts, handoffs = analysed
    persona = await playing_persona(personas)
    firing = (await rules.CreateSwitchingRule(rule(
        from_persona=persona, to_persona=deleted_persona, fallback_personas=[cfo.name], say_meter_below=100,
        stage=rb.CALL_STAGE_EARLY, auto_apply=True))).switching_rule
    session, gateway, watch = await watched_call(transcripts, analyses, persona)

    frame = await within_a_minute(gateway.read)  # the handoff reached the call with nobody applying it
    (handoff,) = (await handoffs.ListHandoffs(hb.ListHandoffsRequest(parent=session))).handoffs
    assert frame.command.name == handoff.command
    assert (handoff.to_persona, handoff.accepted_persona, handoff.reason) == (deleted_persona, cfo.name,
                                                                             firing.reason)
    # The command leaves before the suggestion is marked applied: the watcher hears of that change.
    while not (event := await within_a_minute(watch.read)).HasField("suggestion"):
        pass
    assert (event.suggestion.state, event.suggestion.command) == (analysis_pb.SUGGESTION_STATE_APPLIED,
                                                                  handoff.command)
    suggestions = (await analyses.ListSuggestions(analysis_pb.ListSuggestionsRequest(
        parent=session, type=analysis_pb.SUGGESTION_TYPE_HANDOFF))).suggestions
    assert [(s.state, s.command) for s in suggestions] == [(analysis_pb.SUGGESTION_STATE_APPLIED, handoff.command)]
    watch.cancel()
    gateway.close()


async def test_a_rule_that_applies_itself_starts_the_handoff_while_its_reading_is_being_stored(
        analysed, analyses, rules, personas, cfo, engine):  # noqa: F811
    """The handoff needs nothing the reading writes: while no reading can be stored, its command reaches the call,
    and the reading stored afterwards has its suggestion applied with that command."""
    transcripts, handoffs = analysed
    persona = await playing_persona(personas)
    await rules.CreateSwitchingRule(rule(from_persona=persona, to_persona=cfo.name, pattern=r"\bpricing\b",
                                         auto_apply=True))
    async with engine.connect() as holder:
        await holder.begin()
        await holder.execute(sa.text("LOCK TABLE analysis.voice_analysis IN SHARE MODE"))  # reads pass, writes wait
        session, gateway, watch = await watched_call(transcripts, analyses, persona)
        frame = await within_a_minute(gateway.read)
        stored = sa.text("SELECT count(*) FROM analysis.voice_analysis WHERE session_id = :id")
        assert await holder.scalar(stored, {"id": session.removeprefix("sessions/")}) == 0
        await holder.rollback()
    (handoff,) = (await handoffs.ListHandoffs(hb.ListHandoffsRequest(parent=session))).handoffs
    assert (frame.command.name, handoff.accepted_persona) == (handoff.command, cfo.name)
    while not (event := await within_a_minute(watch.read)).HasField("suggestion"):
        pass
    assert (event.suggestion.state, event.suggestion.command) == (analysis_pb.SUGGESTION_STATE_APPLIED,
                                                                  handoff.command)
    watch.cancel()
    gateway.close()


async def test_a_handoff_suggestion_beyond_the_policys_limit_is_refused_with_when_to_retry_and_stays_open(
        analysed, analyses, rules, personas, policies, cfo):  # noqa: F811
    transcripts, handoffs = analysed
    persona = await persona_under(personas, policies, policy_pb.SafetyPolicy(
        rate_limits=policy_pb.RateLimits(actions_per_minute=1)), "rate_limits")
    await rules.CreateSwitchingRule(rule(from_persona=persona, to_persona=cfo.name, pattern="pricing"))
    session, gateway, watch = await watched_call(transcripts, analyses, persona)
    reading = (await within_a_minute(watch.read)).analysis
    (suggested,) = [s for s in reading.suggestions if s.type == analysis_pb.SUGGESTION_TYPE_HANDOFF]
    await transcripts.SendCommand(pb.SendCommandRequest(parent=session, command=pb.Command(
        type=pb.COMMAND_TYPE_CONTEXT_INJECTION, text="Ask about their renewal date")))

    refused = await rejected_in(DOMAIN, analyses.ApplySuggestion(analysis_pb.ApplySuggestionRequest(
        name=suggested.name)), grpc.StatusCode.RESOURCE_EXHAUSTED)

    assert (refused.reason, refused.info.metadata["action"]) == ("ACTIONS_PER_MINUTE_EXCEEDED", "HANDOFF")
    assert 0 < retry_delay_of(refused.status) <= 60
    unchanged = (await analyses.GetSuggestion(analysis_pb.GetSuggestionRequest(name=suggested.name))).suggestion
    assert unchanged.state == analysis_pb.SUGGESTION_STATE_OPEN
    assert list((await handoffs.ListHandoffs(hb.ListHandoffsRequest(parent=session))).handoffs) == []
    watch.cancel()
    gateway.close()
