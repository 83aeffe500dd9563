"""Voice rounds through the public API: the transcript service starts a session's round with the persona's voice
agent, which the persona service provisions at the `local` provider once per cache key and reuses while nothing
it is made of changes. Every provider request is counted (sparring_persona_voice_provider_requests_total), so the
tests see what reached the provider; every refusal reaches none and stores nothing."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.persona.v1 import voice_agent_service_pb2 as voice_pb
from sparring.persona.v1 import voice_agent_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from tests.builders import field_mask, uid
from tests.e2e.status_details import rejected_in
from tests.e2e.transcript_checks import rejected
from tests.e2e.transcript_fixtures import filled_live_controls, new_session, rounds_of
from tests.e2e.transcript_fixtures import start_round as start
from tests.probes import metric
from tests.security import OTHER_ORGANIZATION, token

FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
INVALID = grpc.StatusCode.INVALID_ARGUMENT
PERSONA_DOMAIN = "persona.sparring.dev"
SCENARIO = "scenarios/q2-cost-reduction"


def agents_created() -> float:
    return metric("sparring_persona_voice_provider_requests_total", provider="local", operation="create_agent",
                  outcome="ok")


async def test_a_round_starts_with_the_persona_agent_which_a_gateway_reads_back(
        transcripts, voiced, gateway_voice_agents):
    persona = await voiced(config=persona_pb.PersonaConfig(
        voice_enabled=True, voice_id="21m00Tcm4TlvDq8ikWAM", tts_model="eleven_flash_v2_5", language="de",
        stability=0.3, speed=1.1))
    session = await new_session(transcripts, persona=persona, scenario=SCENARIO)
    before = agents_created()

    first = await start(transcripts, session)

    assert (first.name, first.round_number, first.provider) == (f"{session.name}/voiceRounds/1", 1, "local")
    assert first.provider_agent_id.startswith("local-") and not first.agent_reused and not first.signed_url
    assert first.HasField("start_time") and not first.HasField("end_time")
    assert agents_created() == before + 1
    agent = (await gateway_voice_agents.GetVoiceAgent(voice_pb.GetVoiceAgentRequest(name=first.voice_agent))
             ).voice_agent
    assert (agent.persona, agent.scenario, agent.provider, agent.provider_agent_id) == (
        persona, SCENARIO, "local", first.provider_agent_id)
    assert agent.system_prompt.startswith("You are Persona") and "Q2" in agent.system_prompt
    assert agent.first_message.startswith("Hi, Persona")
    assert agent.voice == voice_pb.VoiceSettings(voice_id="21m00Tcm4TlvDq8ikWAM", tts_model="eleven_flash_v2_5",
                                                 language="de", stability=0.3, similarity_boost=0.75, speed=1.1)
    assert (await transcripts.GetVoiceRound(pb.GetVoiceRoundRequest(name=first.name))).voice_round == first
    assert filled_live_controls(agent, 'Say "no" twice', voice_agent="voiceAgents/next", system_prompt="You are B.",
                                first_message='Hi, "B" here.') == {
        "context_injection": ("system_message", {"role": "system", "content": 'Say "no" twice'}),
        "curveball": ("system_message", {"role": "system",
                                         "content": 'Raise this now, unprompted, in your own words: Say "no" twice'}),
        "difficulty_change": ("system_message", {"role": "system",
                                                 "content": "From now on play at difficulty 5. Be hostile."}),
        "handoff": ("new_agent", {"voice_agent": "voiceAgents/next", "messages": [
            {"role": "system", "content": "You are B."}, {"role": "assistant", "content": 'Hi, "B" here.'}]})}

    ended = (await transcripts.EndVoiceRound(pb.EndVoiceRoundRequest(name=first.name))).voice_round
    second = await start(transcripts, session)

    assert ended.HasField("end_time")
    assert (second.round_number, second.voice_agent, second.agent_reused) == (2, first.voice_agent, True)
    assert agents_created() == before + 1, "the unchanged agent is reused, not created again"
    assert [(r.round_number, r.HasField("end_time")) for r in await rounds_of(transcripts, session)] == [
        (1, True), (2, False)]


async def test_a_start_retried_with_its_request_id_gets_the_first_round(transcripts, voiced):
    session = await new_session(transcripts, persona=await voiced(), scenario=SCENARIO)
    request_id = f"start-{uid()}"

    first, again = [await start(transcripts, session, request_id=request_id) for _ in range(2)]

    assert again == first
    assert await rounds_of(transcripts, session) == [first]


async def test_an_edited_persona_gets_a_new_agent_and_an_unchanged_one_keeps_its_own(transcripts, personas, voiced):
    persona = await voiced()
    first = await start(transcripts, await new_session(transcripts, persona=persona, scenario=SCENARIO))
    unchanged = await start(transcripts, await new_session(transcripts, persona=persona, scenario=SCENARIO))
    before = agents_created()
    await personas.UpdatePersona(persona_pb.UpdatePersonaRequest(
        persona=persona_pb.Persona(name=persona, prompt_template="You are {persona.name}, now on a budget freeze."),
        update_mask=field_mask("prompt_template")))

    edited = await start(transcripts, await new_session(transcripts, persona=persona, scenario=SCENARIO))

    assert unchanged.voice_agent == first.voice_agent and unchanged.agent_reused
    assert edited.voice_agent != first.voice_agent and not edited.agent_reused
    assert agents_created() == before + 1


async def test_fifty_concurrent_starts_of_one_key_create_one_agent(transcripts, voiced):
    persona = await voiced()
    sessions = [await new_session(transcripts, persona=persona, scenario=SCENARIO) for _ in range(50)]
    before = agents_created()

    started = await asyncio.gather(*(start(transcripts, session) for session in sessions))

    assert len({r.voice_agent for r in started}) == 1
    assert [r.agent_reused for r in started].count(False) == 1
    assert agents_created() == before + 1


async def test_ending_the_session_ends_its_live_round(transcripts, voiced):
    session = await new_session(transcripts, persona=await voiced(), scenario=SCENARIO)
    voice_round = await start(transcripts, session)

    await transcripts.EndSession(pb.EndSessionRequest(name=session.name))

    ended = (await transcripts.GetVoiceRound(pb.GetVoiceRoundRequest(name=voice_round.name))).voice_round
    assert ended.HasField("end_time")


# --- refusals: each names its reason or field, reaches no provider and stores nothing ---------------------------


async def refused_start(transcripts, session: pb.Session, code: grpc.StatusCode, provider: str = ""):
    rounds_before = await rounds_of(transcripts, session)
    created_before = agents_created()
    rejection = await rejected(start(transcripts, session, provider, request_id=f"refused-{uid()}"), code)
    assert agents_created() == created_before, "nothing was created at the provider"
    assert await rounds_of(transcripts, session) == rounds_before, "nothing was stored"
    return rejection


async def test_a_round_of_an_ended_session_is_refused(transcripts, voiced):
    session = await new_session(transcripts, persona=await voiced(), scenario=SCENARIO)
    await transcripts.EndSession(pb.EndSessionRequest(name=session.name))

    rejection = await refused_start(transcripts, session, FAILED_PRECONDITION)

    assert rejection.reason == "SESSION_ENDED"


async def test_a_round_of_a_deleted_persona_is_refused(transcripts, personas, voiced):
    persona = await voiced()
    session = await new_session(transcripts, persona=persona, scenario=SCENARIO)
    await personas.DeletePersona(persona_pb.DeletePersonaRequest(name=persona))

    rejection = await refused_start(transcripts, session, FAILED_PRECONDITION)

    assert (rejection.reason, rejection.info.metadata["resource"]) == ("PERSONA_DELETED", persona)


async def test_a_second_live_round_is_refused(transcripts, voiced):
    session = await new_session(transcripts, persona=await voiced(), scenario=SCENARIO)
    live = await start(transcripts, session)

    rejection = await refused_start(transcripts, session, FAILED_PRECONDITION)

    assert (rejection.reason, rejection.info.metadata["resource"]) == ("ROUND_LIVE", live.name)


async def test_a_round_of_a_persona_without_voice_is_refused(transcripts, voiced):
    session = await new_session(transcripts, persona=await voiced(config=persona_pb.PersonaConfig()),
                                scenario=SCENARIO)

    rejection = await refused_start(transcripts, session, FAILED_PRECONDITION)

    assert (rejection.reason, rejection.info.metadata["field"]) == ("VOICE_DISABLED", "persona.config.voice_enabled")


async def test_an_unknown_provider_is_refused(transcripts, voiced):
    session = await new_session(transcripts, persona=await voiced(), scenario=SCENARIO)

    rejection = await refused_start(transcripts, session, INVALID, provider="telepathy")

    assert (rejection.reason, rejection.fields) == ("UNKNOWN_PROVIDER", ["provider"])
    assert "local" in rejection.description_of("provider")


@pytest.mark.parametrize(("setting", "value"), [
    ("stability", 1.5), ("similarity_boost", -0.1), ("speed", 2.0), ("language", "english"),
    ("voice_id", "no spaces allowed"), ("tts_model", "model/with/slashes")])
async def test_a_voice_setting_out_of_range_is_refused_naming_it(personas, voiced, setting, value):
    persona = await voiced()
    stored = (await personas.GetPersona(persona_pb.GetPersonaRequest(name=persona))).persona
    config = persona_pb.PersonaConfig(voice_enabled=True, **{setting: value})

    rejection = await rejected_in(PERSONA_DOMAIN, personas.UpdatePersona(persona_pb.UpdatePersonaRequest(
        persona=persona_pb.Persona(name=persona, config=config), update_mask=field_mask("config"))), INVALID)

    assert rejection.fields == [f"persona.config.{setting}"]
    assert (await personas.GetPersona(persona_pb.GetPersonaRequest(name=persona))).persona == stored


async def test_another_organizations_voice_agent_is_not_found(transcripts, voiced, persona_server, connect):
    voice_round = await start(transcripts, await new_session(transcripts, persona=await voiced(), scenario=SCENARIO))
    other = voice_agent_service_pb2_grpc.VoiceAgentServiceStub(
        connect(persona_server, token("gateway", organization=OTHER_ORGANIZATION)))

    rejection = await rejected_in(PERSONA_DOMAIN, other.GetVoiceAgent(
        voice_pb.GetVoiceAgentRequest(name=voice_round.voice_agent)), grpc.StatusCode.NOT_FOUND)

    assert rejection.reason == "VOICE_AGENT_NOT_FOUND"


async def test_another_organizations_session_gets_no_round(transcripts, voiced, transcript_server, connect):
    session = await new_session(transcripts, persona=await voiced(), scenario=SCENARIO)
    other = transcript_service_pb2_grpc.TranscriptServiceStub(
        connect(transcript_server, token("admin", organization=OTHER_ORGANIZATION)))

    rejection = await rejected(other.StartVoiceRound(pb.StartVoiceRoundRequest(parent=session.name)),
                               grpc.StatusCode.NOT_FOUND)

    assert rejection.reason == "SESSION_NOT_FOUND"
    assert await rounds_of(transcripts, session) == []
