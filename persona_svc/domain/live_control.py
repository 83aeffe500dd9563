"""Live control of a voice agent: what each interviewer command that goes down the transcript stream becomes at the
agent's provider, so a gateway forwards it without a table of its own.

A template is the provider's message as JSON text with placeholders the gateway fills from the command, each value
JSON-escaped: ``{text}`` (the command's text), ``{difficulty}`` and ``{difficulty_instructions}`` (of a difficulty
change; the instructions are those of RenderPrompt's difficulty levels).

A handoff is not a message to the persona playing the call: another persona takes the call over, and at a provider a
persona is an agent. Its row is the switch to the new persona's agent, filled from the command's handoff:
``{system_prompt}`` and ``{first_message}`` (the new persona's, with the packet folded in) and, from its voice agent,
``{agent_id}`` (the provider's id), ``{voice_agent}``, ``{signed_url}`` and ``{access_token}``. The agent itself is the
persona's own, shared by its rounds; the packet, unique to each handoff, rides in the new conversation, as each
provider lets a conversation start with its own prompt and first message. A new topic for the persona playing the
call is a context injection.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LiveCommand(StrEnum):
    CONTEXT_INJECTION = "context_injection"
    CURVEBALL = "curveball"
    DIFFICULTY_CHANGE = "difficulty_change"
    HANDOFF = "handoff"  # another persona takes the call over: the gateway moves it to that persona's agent


@dataclass(frozen=True, slots=True)
class LiveControl:
    command: LiveCommand
    message_type: str  # the provider's name of the message
    template: str


# What the persona is told for each command, in the words every provider's message carries.
_WORDING = {
    LiveCommand.CONTEXT_INJECTION: "{text}",
    LiveCommand.CURVEBALL: "Raise this now, unprompted, in your own words: {text}",
    LiveCommand.DIFFICULTY_CHANGE: "From now on play at difficulty {difficulty}. {difficulty_instructions}",
}


def _messages(message_type: str, envelope: str, handoff: LiveControl,
              envelopes: dict[LiveCommand, str] | None = None) -> tuple[LiveControl, ...]:
    """Each live update's wording in ``envelope`` (where WORDS stands), or in its own of ``envelopes``; then the
    provider's switch for a handoff."""
    return (*(LiveControl(command, message_type, (envelopes or {}).get(command, envelope).replace("WORDS", wording))
              for command, wording in _WORDING.items()), handoff)


# ElevenLabs: a client event on the conversation's WebSocket; it informs the agent without interrupting it. A
# handoff ends the conversation and opens the new agent's signed URL, whose first client event sets the
# conversation's prompt and first message (the agent allows these two overrides, see the provider).
ELEVENLABS = _messages("contextual_update", '{"type": "contextual_update", "text": "WORDS"}', LiveControl(
    LiveCommand.HANDOFF, "new_conversation",
    '{"agent_id": "{agent_id}", "signed_url": "{signed_url}", "first_event": {"type": '
    '"conversation_initiation_client_data", "conversation_config_override": {"agent": {"prompt": {"prompt": '
    '"{system_prompt}"}, "first_message": "{first_message}"}}}}'))
# Retell: the body of PATCH /v2/update-live-call/{call_id}; the context joins the agent's next response, and a
# curveball asks for that response at once. A handoff ends the web call and joins the new agent's with its access
# token, then hands it the packet and its opening line the same way.
RETELL = _messages("update_live_call", '{"call_control": {"additional_context": "WORDS"}}', LiveControl(
    LiveCommand.HANDOFF, "new_web_call",
    '{"agent_id": "{agent_id}", "access_token": "{access_token}", "call_control": {"additional_context": '
    '"{system_prompt}\\n\\nOpen with: {first_message}", "trigger_response": true}}'), {
    LiveCommand.CURVEBALL: '{"call_control": {"additional_context": "WORDS", "trigger_response": true}}'})
# A self-hosted gateway on `local`: a system message appended to its own LLM's conversation. A handoff replaces
# that conversation with the new agent's (its voice read with GetVoiceAgent), which speaks first.
LOCAL = _messages("system_message", '{"role": "system", "content": "WORDS"}', LiveControl(
    LiveCommand.HANDOFF, "new_agent",
    '{"voice_agent": "{voice_agent}", "messages": [{"role": "system", "content": "{system_prompt}"}, '
    '{"role": "assistant", "content": "{first_message}"}]}'))
