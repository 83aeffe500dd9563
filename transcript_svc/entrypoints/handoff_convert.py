"""Handoff protos to domain objects and back."""

from __future__ import annotations

from sparring.transcript.v1 import handoff_service_pb2 as pb

from svckit.times import timestamp
from transcript_svc.domain.handoff import Handoff, HandoffRequest, HandoffState, HandoffVoice, PendingActionKind

_STATES = {HandoffState.PENDING: pb.HANDOFF_STATE_PENDING, HandoffState.ACCEPTED: pb.HANDOFF_STATE_ACCEPTED,
           HandoffState.COMPLETED: pb.HANDOFF_STATE_COMPLETED, HandoffState.FAILED: pb.HANDOFF_STATE_FAILED,
           HandoffState.AWAITING_APPROVAL: pb.HANDOFF_STATE_AWAITING_APPROVAL}
_ACTION_KINDS = {PendingActionKind.COMMAND: pb.PENDING_ACTION_KIND_COMMAND,
                 PendingActionKind.COMMITMENT: pb.PENDING_ACTION_KIND_COMMITMENT}


def handoff_request(request: pb.StartHandoffRequest) -> HandoffRequest:
    return HandoffRequest(to_persona=request.handoff.to_persona, reason=request.handoff.reason,
                          candidate_preferences=list(request.handoff.candidate_preferences),
                          fallback_personas=list(request.fallback_personas))


def handoff_message(handoff: Handoff) -> pb.Handoff:
    return pb.Handoff(
        name=handoff.resource_name,
        from_persona=handoff.from_persona,
        to_persona=handoff.to_persona,
        accepted_persona=handoff.accepted_persona,
        reason=handoff.reason,
        conversation_summary=handoff.conversation_summary,
        active_goals=handoff.active_goals,
        working_memory=handoff.working_memory,
        candidate_preferences=handoff.candidate_preferences,
        pending_actions=[pb.PendingAction(kind=_ACTION_KINDS[a.kind], text=a.text, source=a.source)
                         for a in handoff.pending_actions],
        state=_STATES[handoff.state],
        command=f"sessions/{handoff.session_id}/commands/{handoff.command_id}" if handoff.command_id else "",
        first_sequence=handoff.first_sequence,
        system_prompt=handoff.system_prompt,
        first_message=handoff.first_message,
        create_time=timestamp(handoff.create_time),
        update_time=timestamp(handoff.update_time),
        voice_agent=_voice_agent_message(handoff.session_id, handoff.voice) if handoff.voice else None,
        failure_reason=handoff.failure_reason,
        approval=handoff.approval,
    )


def _voice_agent_message(session_id: str, voice: HandoffVoice) -> pb.HandoffVoiceAgent:
    agent = voice.grant
    return pb.HandoffVoiceAgent(
        voice_round=f"sessions/{session_id}/voiceRounds/{voice.round_number}", provider=agent.provider,
        voice_agent=agent.voice_agent, provider_agent_id=agent.provider_agent_id, signed_url=agent.signed_url,
        access_token=agent.access_token, agent_reused=agent.reused)
