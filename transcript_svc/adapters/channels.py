"""PostgreSQL NOTIFY channels of the transcript service (payloads in the comments)."""

COMMANDS_CHANNEL = "transcript_commands"  # "{session_id}:{command_id}": a command to deliver
STREAMS_CHANNEL = "transcript_streams"  # "{session_id}:{epoch}": a stream opened; older ones give way
SESSIONS_CHANNEL = "transcript_sessions"  # "ended:{session_id}"
OUTBOX_CHANNEL = "transcript_outbox"  # "": outbox rows fell due
