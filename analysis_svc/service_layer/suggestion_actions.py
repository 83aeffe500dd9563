"""Applying and dismissing suggestions, recorded so the learning loop can see which were used."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analysis_svc.adapters.transcript_commands import TranscriptCommands
from analysis_svc.service_layer.analyses import CHANGES_CHANNEL, StoredSuggestion, row_suggestion
from svckit.db import RequestLog, request_log_table, run_idempotent
from svckit.errors import EtagMismatch, FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from svckit.notify import notify
from svckit.usecase import Mutation

_REQUEST_LOG = request_log_table(sa.MetaData(schema="analysis"))
_APPLICABLE = {"context_injection", "curveball"}
MAX_REASON = 500

_LOCK = sa.text("SELECT * FROM analysis.voice_analysis WHERE id = :id AND session_id = :session "
                "AND kind <> 'say_meter' FOR UPDATE")
_RESOLVE = sa.text("""
UPDATE analysis.voice_analysis
SET state = :state, command = :command, dismiss_reason = :reason, resolve_time = now(), revision = revision + 1
WHERE id = :id
RETURNING *
""")

Action = Callable[[AsyncConnection, StoredSuggestion], Awaitable[StoredSuggestion]]


class SuggestionActions:
    def __init__(self, engine: AsyncEngine, commands: TranscriptCommands) -> None:
        self._engine = engine
        self._commands = commands

    async def apply(self, session_id: str, suggestion_id: str, etag: str, mutation: Mutation) -> StoredSuggestion:
        async def action(connection: AsyncConnection, current: StoredSuggestion) -> StoredSuggestion:
            name = f"sessions/{session_id}/suggestions/{suggestion_id}"
            if current.state == "applied":
                raise FailedPrecondition(f"{name} is already applied as {current.command}",
                                         reason="SUGGESTION_ALREADY_APPLIED", metadata={"command": current.command})
            if current.state == "dismissed":
                raise FailedPrecondition(f"{name} was dismissed", reason="SUGGESTION_DISMISSED")
            if current.suggestion.type.value not in _APPLICABLE:
                raise FailedPrecondition(f"{name} is a question for the candidate, not a command for the call",
                                         reason="SUGGESTION_NOT_APPLICABLE")
            # The command's request id is the suggestion's name: a retry after a crash here sends it once.
            command = await self._commands.send(session_id, name, current.suggestion)
            return await _resolve(connection, current, "applied", command=command)

        return await self._act(session_id, suggestion_id, etag, mutation, "ApplySuggestion", action)

    async def dismiss(self, session_id: str, suggestion_id: str, etag: str, reason: str,
                      mutation: Mutation) -> StoredSuggestion:
        if len(reason) > MAX_REASON or "\x00" in reason:
            raise InvalidArgument(FieldViolation("reason", f"must be at most {MAX_REASON} characters, without NUL"))

        async def action(connection: AsyncConnection, current: StoredSuggestion) -> StoredSuggestion:
            if current.state == "dismissed":
                return current
            if current.state == "applied":
                raise FailedPrecondition(
                    f"sessions/{session_id}/suggestions/{suggestion_id} is already applied as {current.command}",
                    reason="SUGGESTION_ALREADY_APPLIED", metadata={"command": current.command})
            return await _resolve(connection, current, "dismissed", reason=reason)

        return await self._act(session_id, suggestion_id, etag, mutation, "DismissSuggestion", action)

    async def _act(self, session_id: str, suggestion_id: str, etag: str, mutation: Mutation, method: str,
                   action: Action) -> StoredSuggestion:
        """Locks the suggestion, checks its etag and runs ``action`` once per request id, in one transaction."""
        async with self._engine.begin() as connection:
            async def run() -> StoredSuggestion:
                row = (await connection.execute(_LOCK, {"id": suggestion_id, "session": session_id})).first()
                if row is None:
                    raise NotFound(f"sessions/{session_id}/suggestions/{suggestion_id}",
                                   reason="SUGGESTION_NOT_FOUND")
                current = row_suggestion(row)
                if etag and etag != current.etag:
                    raise EtagMismatch(f"sessions/{session_id}/suggestions/{suggestion_id}", etag, current.etag)
                return await action(connection, current)

            return await run_idempotent(RequestLog(connection, _REQUEST_LOG), mutation, method, run,
                                        StoredSuggestion)


async def _resolve(connection: AsyncConnection, current: StoredSuggestion, state: str, *, command: str = "",
                   reason: str = "") -> StoredSuggestion:
    row = (await connection.execute(_RESOLVE, {"id": current.id, "state": state, "command": command,
                                               "reason": reason})).one()
    await notify(connection, CHANGES_CHANNEL, f"{current.session_id}:suggestion:{current.id}")
    return row_suggestion(row)
