"""Live control of a voice agent: what each interviewer command that goes down the transcript stream becomes at the
agent's provider, so a gateway forwards it without a table of its own.

A template is the provider's message as JSON text with placeholders the gateway fills from the command, each value
JSON-escaped: ``{text}`` (the command's text), ``{difficulty}`` and ``{difficulty_instructions}`` (of a difficulty
change; the instructions are those of RenderPrompt's difficulty levels).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LiveCommand(StrEnum):
    CONTEXT_INJECTION = "context_injection"
    CURVEBALL = "curveball"
    DIFFICULTY_CHANGE = "difficulty_change"
    HANDOFF = "handoff"  # the next issue handed to the persona to raise


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
    LiveCommand.HANDOFF: "The next issue to bring up, when the current one is settled: {text}",
}


def _messages(message_type: str, envelope: str,
              envelopes: dict[LiveCommand, str] | None = None) -> tuple[LiveControl, ...]:
    """Each command's wording in ``envelope`` (where WORDS stands), or in its own of ``envelopes``."""
    return tuple(LiveControl(command, message_type, (envelopes or {}).get(command, envelope).replace("WORDS", wording))
                 for command, wording in _WORDING.items())


# ElevenLabs: a client event on the conversation's WebSocket; it informs the agent without interrupting it.
ELEVENLABS = _messages("contextual_update", '{"type": "contextual_update", "text": "WORDS"}')
# Retell: the body of PATCH /v2/update-live-call/{call_id}; the context joins the agent's next response, and a
# curveball asks for that response at once.
RETELL = _messages("update_live_call", '{"call_control": {"additional_context": "WORDS"}}', {
    LiveCommand.CURVEBALL: '{"call_control": {"additional_context": "WORDS", "trigger_response": true}}'})
# A self-hosted gateway on `local`: a system message appended to its own LLM's conversation.
LOCAL = _messages("system_message", '{"role": "system", "content": "WORDS"}')
