"""Helpers for transcript tests: a session to stream into and its utterances (devtools.gateway streams them)."""

from __future__ import annotations

import json

from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.persona.v1 import safety_policy_service_pb2 as policy_pb
from sparring.transcript.v1 import transcript_service_pb2 as pb

from devtools.gateway import Gateway, utterance_frame
from tests.builders import field_mask, new_persona, uid


async def new_session(stub, interval: int = 0, gateway: str = "", session_id: str = "",
                      scenario: str = "scenarios/q2-cost-reduction", candidate: str = "",
                      persona: str = "personas/sarah-chen", blueprint: int = persona_pb.BLUEPRINT_SALES) -> pb.Session:
    reply = await stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(
        persona=persona, scenario=scenario, blueprint=blueprint,
        analysis_interval=interval, gateway=gateway, candidate=candidate), session_id=session_id or f"call-{uid()}"))
    return reply.session


def utterance(sequence: int, text: str | None = None, role=pb.ROLE_USER) -> pb.StreamSessionRequest:
    return utterance_frame(sequence, role, text if text is not None else f"utterance number {sequence}")


async def streamed_call(stub, turns: list[tuple[int, str]], creator=None, session_id: str = "",
                        candidate: str = "", scenario: str = "scenarios/q2-cost-reduction",
                        persona: str = "personas/sarah-chen", blueprint: int = persona_pb.BLUEPRINT_SALES) -> str:
    """A new session with ``turns`` (role, text) streamed in as one pipelined burst and acked; returns its name.
    ``creator``: the stub that creates it (its caller becomes the session's interviewer), if not ``stub``."""
    session = await new_session(creator or stub, session_id=session_id, candidate=candidate, scenario=scenario,
                                persona=persona, blueprint=blueprint)
    await stream_turns(stub, session.name, turns)
    return session.name


async def stream_turns(stub, session: str, turns: list[tuple[int, str]]) -> None:
    """``turns`` (role, text) streamed into a new session as one pipelined burst, and acked."""
    gateway = Gateway(stub, session)
    await gateway.read()
    gateway.send(*(utterance_frame(n, role, text) for n, (role, text) in enumerate(turns, start=1)))
    await gateway.acks_until(len(turns))
    gateway.close()


async def start_round(stub, session: pb.Session, provider: str = "", request_id: str = "") -> pb.VoiceRound:
    reply = await stub.StartVoiceRound(pb.StartVoiceRoundRequest(parent=session.name, provider=provider,
                                                                 request_id=request_id))
    return reply.voice_round


def filled_live_controls(agent, text: str = "Mention the budget freeze",
                         **handoff: str) -> dict[str, tuple[str, dict]]:
    """command -> (provider message type, the message) of an agent's live controls, filled as a gateway fills them;
    ``handoff``: the values of a handoff's placeholders (see ``filled_handoff_control``)."""
    values = {"text": text, "difficulty": "5", "difficulty_instructions": "Be hostile.", **handoff}

    def filled(template: str) -> dict:
        for name, value in values.items():
            template = template.replace("{" + name + "}", json.dumps(value)[1:-1])
        return json.loads(template)

    return {c.command: (c.message_type, filled(c.template)) for c in agent.live_controls}


def filled_handoff_control(agent, handoff) -> tuple[str, dict]:
    """(provider message type, the message) of the agent's handoff live control, filled from a HANDOFF command's
    handoff as a gateway fills it."""
    voice = handoff.voice_agent
    return filled_live_controls(
        agent, system_prompt=handoff.system_prompt, first_message=handoff.first_message,
        agent_id=voice.provider_agent_id, voice_agent=voice.voice_agent, signed_url=voice.signed_url,
        access_token=voice.access_token)["handoff"]


async def rounds_of(stub, session: pb.Session) -> list[pb.VoiceRound]:
    return list((await stub.ListVoiceRounds(pb.ListVoiceRoundsRequest(parent=session.name))).voice_rounds)
async def persona_under(personas, policies, policy: policy_pb.SafetyPolicy, *paths: str) -> str:
    """A new persona whose safety policy has the fields ``paths`` of ``policy``; returns its name."""
    persona = (await personas.CreatePersona(persona_pb.CreatePersonaRequest(persona=new_persona()))).persona.name
    policy.name = f"{persona}/safetyPolicy"
    await policies.UpdateSafetyPolicy(policy_pb.UpdateSafetyPolicyRequest(policy=policy,
                                                                          update_mask=field_mask(*paths)))
    return persona
