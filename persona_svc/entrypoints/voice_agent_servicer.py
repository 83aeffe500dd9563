"""VoiceAgentService over gRPC: requests to the voice-agent use cases, agents to messages."""

from __future__ import annotations

import grpc
from sparring.persona.v1 import voice_agent_service_pb2 as pb
from sparring.persona.v1 import voice_agent_service_pb2_grpc

from persona_svc.domain.live_control import LiveControl
from persona_svc.domain.voice_agents import VoiceAgent
from persona_svc.entrypoints import convert
from persona_svc.service_layer.voice_agents import VoiceAgents
from svckit.context import current_call
from svckit.times import timestamp


def voice_agent_message(agent: VoiceAgent, controls: tuple[LiveControl, ...]) -> pb.VoiceAgent:
    spec, voice = agent.spec, agent.spec.voice
    return pb.VoiceAgent(
        name=agent.resource_name,
        persona=f"personas/{spec.persona_id}",
        persona_revision=spec.persona_revision,
        scenario=f"scenarios/{spec.scenario_id}" if spec.scenario_id else "",
        scenario_revision=spec.scenario_revision,
        provider=spec.provider,
        provider_agent_id=agent.provider_agent_id,
        cache_key=agent.cache_key,
        patches=spec.patches,
        system_prompt=spec.system_prompt,
        first_message=spec.first_message,
        voice=pb.VoiceSettings(voice_id=voice.voice_id, tts_model=voice.tts_model, language=voice.language,
                               stability=voice.stability or 0.0, similarity_boost=voice.similarity_boost or 0.0,
                               speed=voice.speed or 0.0),
        create_time=timestamp(agent.create_time),
        live_controls=[pb.LiveControl(command=c.command.value, message_type=c.message_type, template=c.template)
                       for c in controls],
    )


class VoiceAgentServicer(voice_agent_service_pb2_grpc.VoiceAgentServiceServicer):
    def __init__(self, voice_agents: VoiceAgents) -> None:
        self._voice_agents = voice_agents

    async def ProvisionVoiceAgent(self, request: pb.ProvisionVoiceAgentRequest,
                                  context: grpc.aio.ServicerContext) -> pb.ProvisionVoiceAgentResponse:
        persona_id = convert.resource_id(request.persona, "personas", "persona")
        scenario_id = convert.resource_id(request.scenario, "scenarios", "scenario") if request.scenario else ""
        session = f"sessions/{convert.resource_id(request.session, 'sessions', 'session')}"
        provisioned = await self._voice_agents.provision(current_call().organization, persona_id, scenario_id,
                                                         request.provider, session)
        return pb.ProvisionVoiceAgentResponse(
            voice_agent=voice_agent_message(provisioned.agent, self._voice_agents.live_controls(provisioned.agent)),
            reused=provisioned.reused,
            connection=pb.VoiceConnection(signed_url=provisioned.connection.signed_url,
                                          access_token=provisioned.connection.access_token))

    async def GetVoiceAgent(self, request: pb.GetVoiceAgentRequest,
                            context: grpc.aio.ServicerContext) -> pb.GetVoiceAgentResponse:
        agent = await self._voice_agents.get(current_call().organization,
                                             convert.resource_id(request.name, "voiceAgents", "name"))
        return pb.GetVoiceAgentResponse(voice_agent=voice_agent_message(agent, self._voice_agents.live_controls(agent)))
