"""An approved prompt patch makes a new voice agent at the next start: the patches in force are part of what an
agent is made of. A persona service that reads patches from the real learning service, and a transcript service
that asks it for agents."""

from __future__ import annotations

import pytest_asyncio
from sparring.learning.v1 import learning_service_pb2 as lpb
from sparring.persona.v1 import voice_agent_service_pb2 as voice_pb
from sparring.persona.v1 import voice_agent_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2_grpc

from persona_svc.app import build as build_persona
from persona_svc.config import PersonaSettings
from tests.e2e.transcript_fixtures import new_session, start_round
from tests.security import secure_channel
from transcript_svc.app import build as build_transcript

SCENARIO = "scenarios/q2-cost-reduction"


@pytest_asyncio.fixture(scope="module")
async def patched_voice(database_url, engine, transcript_schema, learning_server, catalogue, transcript_settings):
    """(transcript stub, voice agent stub) over a persona service that applies the learning service's patches."""
    persona_app = await build_persona(PersonaSettings(database_url=database_url, grpc_port=0, metrics_port=0,
                                                      learning_address=learning_server, patches_timeout_seconds=5),
                                      engine)
    await persona_app.start()
    transcript_app = await build_transcript(transcript_settings(persona_address=persona_app.address), engine)
    await transcript_app.start()
    async with secure_channel(transcript_app.address) as channel, secure_channel(persona_app.address) as agents:
        yield (transcript_service_pb2_grpc.TranscriptServiceStub(channel),
               voice_agent_service_pb2_grpc.VoiceAgentServiceStub(agents))
    await transcript_app.stop(grace=1)
    await persona_app.stop(grace=1)


async def test_an_approved_patch_makes_a_new_agent_that_carries_it(patched_voice, voiced, learnings):
    transcripts, voice_agents = patched_voice
    persona = await voiced(archetype="archetypes/lamb")

    async def start():
        return await start_round(transcripts, await new_session(transcripts, persona=persona, scenario=SCENARIO))

    before = await start()
    patch = (await learnings.CreatePromptPatch(lpb.CreatePromptPatchRequest(patch=lpb.PromptPatch(
        archetype="archetypes/lamb", target=lpb.PATCH_TARGET_VOICE_PROMPT, operation=lpb.PATCH_OPERATION_BAN_PHRASE,
        phrase="sounds great", text="Never say 'sounds great': it gives your enthusiasm away.")))).patch
    await learnings.ApprovePromptPatch(lpb.ApprovePromptPatchRequest(name=patch.name))
    try:
        after = await start()
    finally:
        await learnings.DeactivatePromptPatch(lpb.DeactivatePromptPatchRequest(name=patch.name))

    assert after.voice_agent != before.voice_agent and not after.agent_reused
    agent = (await voice_agents.GetVoiceAgent(voice_pb.GetVoiceAgentRequest(name=after.voice_agent))).voice_agent
    assert patch.name in agent.patches and "Never say 'sounds great'" in agent.system_prompt
