"""A handoff during a live voice round, through the public API: at a voice provider a persona is an agent, so the
call moves to the new persona's agent (provisioned at the live round's provider, or reused from its cache) in the
next round, and the HANDOFF command carries that agent and how the gateway connects to it. The providers are the
loopback fakes (devtools/fake_elevenlabs.py) counting every request, and `local`."""

from __future__ import annotations

import grpc
from sparring.persona.v1 import voice_agent_service_pb2 as voice_pb
from sparring.transcript.v1 import handoff_service_pb2 as hb
from sparring.transcript.v1 import transcript_service_pb2 as pb

from devtools.gateway import Gateway
from tests.e2e.conftest import ELEVENLABS_TRIES
from tests.e2e.test_handoff import get, start, started
from tests.e2e.transcript_checks import rejected
from tests.e2e.transcript_fixtures import filled_handoff_control, new_session, rounds_of, start_round, utterance

CREATE = ("POST", "create")
SIGN = ("GET", "signed_url")


async def handed_over(handoffs, gateway: Gateway, session: str, to_persona: str,
                      sequence: int = 1) -> tuple[hb.Handoff, pb.Command]:
    """A handoff started to ``to_persona`` and the command the gateway reads for it, acknowledged before the
    utterance ``sequence`` the new persona speaks."""
    handoff = await started(handoffs, session, to_persona)
    command = (await gateway.read()).command
    gateway.send(pb.StreamSessionRequest(command_ack=pb.CommandAck(command=command.name)),
                 utterance(sequence, role=pb.ROLE_ASSISTANT))
    await gateway.acks_until(sequence)
    return handoff, command


def round_rows(rounds: list[pb.VoiceRound]) -> list[tuple]:
    return [(r.round_number, r.persona, r.voice_agent, r.handoff, r.end_reason, r.HasField("end_time"))
            for r in rounds]


async def test_a_handoff_on_elevenlabs_moves_the_call_to_the_new_personas_agent_and_back_to_the_cached_first(
        voice_transcripts, voice_handoffs, voiced, elevenlabs):
    transcripts, voice_agents = voice_transcripts
    sarah, dana = await voiced(), await voiced(display_name="Dana Ortiz")
    session = await new_session(transcripts, persona=sarah)
    first = await start_round(transcripts, session, provider="elevenlabs")
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    creates, signs = elevenlabs.count(*CREATE), elevenlabs.count(*SIGN)

    handoff, command = await handed_over(voice_handoffs, gateway, session.name, dana)

    assert (elevenlabs.count(*CREATE), elevenlabs.count(*SIGN)) == (creates + 1, signs + 1)
    voice = handoff.voice_agent
    assert (voice.voice_round, voice.provider, voice.agent_reused) == (
        f"{session.name}/voiceRounds/2", "elevenlabs", False)
    assert voice.provider_agent_id in elevenlabs.agents and voice.provider_agent_id in voice.signed_url
    assert command.type == pb.COMMAND_TYPE_HANDOFF and command.handoff == handoff
    agent = (await voice_agents.GetVoiceAgent(voice_pb.GetVoiceAgentRequest(name=voice.voice_agent))).voice_agent
    assert agent.persona == dana and "## Handoff" not in agent.system_prompt, "the agent is the persona's own"
    created = elevenlabs.agents[voice.provider_agent_id]
    assert created["platform_settings"]["overrides"]["conversation_config_override"]["agent"] == {
        "first_message": True, "prompt": {"prompt": True}}
    first_agent = (await voice_agents.GetVoiceAgent(voice_pb.GetVoiceAgentRequest(name=first.voice_agent))
                   ).voice_agent
    assert filled_handoff_control(first_agent, command.handoff) == ("new_conversation", {
        "agent_id": voice.provider_agent_id, "signed_url": voice.signed_url, "first_event": {
            "type": "conversation_initiation_client_data", "conversation_config_override": {"agent": {
                "prompt": {"prompt": handoff.system_prompt}, "first_message": handoff.first_message}}}})
    assert "## Handoff" in handoff.system_prompt, "the packet rides in the new conversation"

    back, _ = await handed_over(voice_handoffs, gateway, session.name, sarah, sequence=2)

    assert (back.voice_agent.provider_agent_id, back.voice_agent.agent_reused) == (first.provider_agent_id, True)
    assert (elevenlabs.count(*CREATE), elevenlabs.count(*SIGN)) == (creates + 1, signs + 2)
    assert round_rows(await rounds_of(transcripts, session)) == [
        (1, sarah, first.voice_agent, "", pb.VOICE_ROUND_END_REASON_HANDOFF, True),
        (2, dana, voice.voice_agent, handoff.name, pb.VOICE_ROUND_END_REASON_HANDOFF, True),
        (3, sarah, first.voice_agent, back.name, pb.VOICE_ROUND_END_REASON_UNSPECIFIED, False)]
    gateway.close()


async def test_a_provider_failing_every_try_fails_the_handoff_and_changes_nothing_else(
        voice_transcripts, voice_handoffs, voiced, elevenlabs):
    transcripts, _ = voice_transcripts
    sarah, dana = await voiced(), await voiced()
    session = await new_session(transcripts, persona=sarah)
    await start_round(transcripts, session, provider="elevenlabs")
    rounds = await rounds_of(transcripts, session)
    elevenlabs.modes.extend([500] * ELEVENLABS_TRIES)

    rejection = await rejected(voice_handoffs.StartHandoff(start(session.name, dana)), grpc.StatusCode.UNAVAILABLE)

    assert (rejection.reason, rejection.info.metadata["provider"]) == ("VOICE_PROVIDER_UNAVAILABLE", "elevenlabs")
    failed = await get(voice_handoffs, rejection.info.metadata["handoff"])
    assert (failed.state, failed.to_persona, failed.command) == (hb.HANDOFF_STATE_FAILED, dana, "")
    assert "elevenlabs" in failed.failure_reason and not failed.HasField("voice_agent")
    current = (await transcripts.GetSession(pb.GetSessionRequest(name=session.name))).session
    assert (current.current_persona, current.etag) == (sarah, session.etag)
    assert await rounds_of(transcripts, session) == rounds
    assert not (await transcripts.ListCommands(pb.ListCommandsRequest(parent=session.name))).commands


async def test_a_handoff_on_local_carries_the_new_agents_configuration(transcripts, handoffs, voiced,
                                                                      gateway_voice_agents):
    sarah, dana = await voiced(), await voiced()
    session = await new_session(transcripts, persona=sarah)
    first = await start_round(transcripts, session)
    gateway = Gateway(transcripts, session.name)
    await gateway.read()

    handoff, command = await handed_over(handoffs, gateway, session.name, dana)

    voice = command.handoff.voice_agent
    assert (voice.provider, voice.voice_round, voice.signed_url, voice.access_token) == (
        "local", f"{session.name}/voiceRounds/2", "", "")
    assert voice.voice_agent != first.voice_agent and voice.provider_agent_id.startswith("local-")
    agent = (await gateway_voice_agents.GetVoiceAgent(voice_pb.GetVoiceAgentRequest(name=voice.voice_agent))
             ).voice_agent
    assert (agent.persona, agent.provider_agent_id) == (dana, voice.provider_agent_id)
    first_agent = (await gateway_voice_agents.GetVoiceAgent(voice_pb.GetVoiceAgentRequest(name=first.voice_agent))
                   ).voice_agent
    assert filled_handoff_control(first_agent, command.handoff) == ("new_agent", {
        "voice_agent": voice.voice_agent, "messages": [{"role": "system", "content": handoff.system_prompt},
                                                       {"role": "assistant", "content": handoff.first_message}]})
    assert [(r.persona, r.end_reason) for r in await rounds_of(transcripts, session)] == [
        (sarah, pb.VOICE_ROUND_END_REASON_HANDOFF), (dana, pb.VOICE_ROUND_END_REASON_UNSPECIFIED)]
    gateway.close()


async def test_a_round_started_after_a_handoff_speaks_with_the_new_persona(transcripts, handoffs, voiced):
    sarah, dana = await voiced(), await voiced()
    session = await new_session(transcripts, persona=sarah)
    handoff = await started(handoffs, session.name, dana)
    assert not handoff.HasField("voice_agent"), "without a live round, a handoff moves no voice call"

    voice_round = await start_round(transcripts, session)

    assert voice_round.persona == dana


async def test_a_handoff_on_retell_joins_the_new_agents_web_call(voice_transcripts, voice_handoffs, voiced,
                                                                 fake_retell):
    transcripts, voice_agents = voice_transcripts
    session = await new_session(transcripts, persona=await voiced())
    first = await start_round(transcripts, session, provider="retell")
    gateway = Gateway(transcripts, session.name)
    await gateway.read()
    agents, calls = fake_retell.count("POST", "create-agent"), fake_retell.count("POST", "create-web-call")

    handoff, command = await handed_over(voice_handoffs, gateway, session.name, await voiced())

    voice = command.handoff.voice_agent
    assert (voice.provider, voice.signed_url) == ("retell", "") and voice.access_token.startswith("eyJ")
    assert voice.provider_agent_id in fake_retell.agents and voice.provider_agent_id != first.provider_agent_id
    assert (fake_retell.count("POST", "create-agent"), fake_retell.count("POST", "create-web-call")) == (
        agents + 1, calls + 1)
    first_agent = (await voice_agents.GetVoiceAgent(voice_pb.GetVoiceAgentRequest(name=first.voice_agent))
                   ).voice_agent
    assert filled_handoff_control(first_agent, command.handoff) == ("new_web_call", {
        "agent_id": voice.provider_agent_id, "access_token": voice.access_token, "call_control": {
            "additional_context": f"{handoff.system_prompt}\n\nOpen with: {handoff.first_message}",
            "trigger_response": True}})
    gateway.close()
