"""Voice rounds on Retell AI: the persona service's `retell` provider runs the real ``retell-sdk`` against a fake of
its HTTP API on loopback (tests/fake_retell.py) that counts every request; the persona server of
``voice_transcripts`` has it configured. Clean-up deletes the agent and its LLM."""

from __future__ import annotations

from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.persona.v1 import voice_agent_service_pb2 as voice_pb

from tests.e2e.transcript_fixtures import filled_live_controls, new_session, start_round

SCENARIO = "scenarios/q2-cost-reduction"


async def test_a_round_on_retell_makes_an_llm_and_an_agent_of_the_persona_and_reuses_them(voice_transcripts, voiced,
                                                                                         fake_retell):
    transcripts, voice_agents = voice_transcripts
    persona = await voiced(config=persona_pb.PersonaConfig(
        voice_enabled=True, voice_id="11labs-Adrian", tts_model="eleven_flash_v2_5", language="de", speed=1.1))
    agents, llms = fake_retell.count("POST", "create-agent"), fake_retell.count("POST", "create-retell-llm")

    first = await start_round(transcripts, await new_session(transcripts, persona=persona, scenario=SCENARIO),
                              provider="retell")
    again = await start_round(transcripts, await new_session(transcripts, persona=persona, scenario=SCENARIO),
                              provider="retell")

    assert first.provider == "retell" and first.provider_agent_id in fake_retell.agents
    assert first.access_token and again.access_token != first.access_token, "each round joins its own web call"
    assert (again.provider_agent_id, again.agent_reused) == (first.provider_agent_id, True)
    assert (fake_retell.count("POST", "create-agent"), fake_retell.count("POST", "create-retell-llm")) == (
        agents + 1, llms + 1)
    agent = (await voice_agents.GetVoiceAgent(voice_pb.GetVoiceAgentRequest(name=first.voice_agent))).voice_agent
    sent = fake_retell.agents[first.provider_agent_id]
    assert {key: sent[key] for key in ("voice_id", "voice_model", "language", "voice_speed")} == {
        "voice_id": "11labs-Adrian", "voice_model": "eleven_flash_v2_5", "language": "de-DE", "voice_speed": 1.1}
    controls = filled_live_controls(agent)
    assert controls["context_injection"] == ("update_live_call", {
        "call_control": {"additional_context": "Mention the budget freeze"}})
    assert controls["curveball"][1]["call_control"]["trigger_response"] is True
    llm = fake_retell.llms[sent["response_engine"]["llm_id"]]
    assert (llm["general_prompt"], llm["begin_message"]) == (agent.system_prompt, agent.first_message)
