"""PostgreSQL NOTIFY channels of the transcript service (payloads in the comments).

Session and command ids hold no colon; the organization, last, may."""

COMMANDS_CHANNEL = "transcript_commands"  # "{session_id}:{command_id}:{organization}": a command to deliver
STREAMS_CHANNEL = "transcript_streams"  # "{session_id}:{epoch}:{organization}": a stream opened; older ones give way
SESSIONS_CHANNEL = "transcript_sessions"  # "ended:{session_id}:{organization}"
APPROVALS_CHANNEL = "transcript_approvals"  # "{session_id}:{approval_id}:{organization}": asked for or decided
OUTBOX_CHANNEL = "transcript_outbox"  # "": outbox rows fell due
