"""Applying and dismissing suggestions, recorded so the learning loop can see which were used."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from analysis_svc.domain.model import StoredSuggestion
from analysis_svc.service_layer.ports import CommandSender, Database, UnitOfWork
from analysis_svc.service_layer.session_access import ACTORS, SessionAccess
from svckit.errors import EtagMismatch, FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from svckit.usecase import Mutation, run_idempotent

if TYPE_CHECKING:  # the rules resolve the suggestions they apply themselves with resolve_suggestion
    from analysis_svc.service_layer.switching_rules import SwitchingRules

_APPLICABLE = {"context_injection", "curveball", "handoff"}
MAX_REASON = 500

Action = Callable[[UnitOfWork, StoredSuggestion], Awaitable[StoredSuggestion]]


class SuggestionActions:
    def __init__(self, database: Database, commands: CommandSender, access: SessionAccess,
                 rules: SwitchingRules | None = None) -> None:
        self._database = database
        self._commands = commands
        self._access = access
        self._rules = rules

    async def apply(self, session_id: str, suggestion_id: str, etag: str, mutation: Mutation) -> StoredSuggestion:
        async def action(uow: UnitOfWork, current: StoredSuggestion) -> StoredSuggestion:
            name = f"sessions/{session_id}/suggestions/{suggestion_id}"
            if current.state == "applied":
                raise _already_applied(name, current)
            if current.state == "dismissed":
                raise FailedPrecondition(f"{name} was dismissed", reason="SUGGESTION_DISMISSED")
            if current.suggestion.type.value not in _APPLICABLE:
                raise FailedPrecondition(f"{name} is a question for the candidate, not a command for the call",
                                         reason="SUGGESTION_NOT_APPLICABLE")
            # The command's request id is the suggestion's name: a retry after a crash here sends it once.
            if current.suggestion.switching_rule and self._rules is not None:
                command = await self._rules.start(uow, mutation.caller.organization, session_id, name,
                                                  current.suggestion.switching_rule)
            else:
                command = await self._commands.send(mutation.caller.organization, session_id, name,
                                                    current.suggestion)
            return await resolve_suggestion(uow, mutation.caller.organization, current, "applied", command=command)

        return await self._act(session_id, suggestion_id, etag, mutation, "ApplySuggestion", action)

    async def dismiss(self, session_id: str, suggestion_id: str, etag: str, reason: str,
                      mutation: Mutation) -> StoredSuggestion:
        if len(reason) > MAX_REASON or "\x00" in reason:
            raise InvalidArgument(FieldViolation("reason", f"must be at most {MAX_REASON} characters, without NUL"))

        async def action(uow: UnitOfWork, current: StoredSuggestion) -> StoredSuggestion:
            if current.state == "dismissed":
                return current
            if current.state == "applied":
                raise _already_applied(f"sessions/{session_id}/suggestions/{suggestion_id}", current)
            return await resolve_suggestion(uow, mutation.caller.organization, current, "dismissed", reason=reason)

        return await self._act(session_id, suggestion_id, etag, mutation, "DismissSuggestion", action)

    async def _act(self, session_id: str, suggestion_id: str, etag: str, mutation: Mutation, method: str,
                   action: Action) -> StoredSuggestion:
        """Locks the suggestion, checks its etag and runs ``action`` once per request id, in one transaction."""
        await self._access.require(mutation.caller.principal, session_id, ACTORS)
        organization = mutation.caller.organization
        async with self._database.transaction() as uow:
            async def run() -> StoredSuggestion:
                current = await uow.analyses.suggestion(organization, session_id, suggestion_id, for_update=True)
                if current is None:
                    raise NotFound(f"sessions/{session_id}/suggestions/{suggestion_id}",
                                   reason="SUGGESTION_NOT_FOUND")
                if etag and etag != current.etag:
                    raise EtagMismatch(f"sessions/{session_id}/suggestions/{suggestion_id}", etag, current.etag)
                return await action(uow, current)

            resolved = await run_idempotent(uow.requests_of(organization), mutation, method, run, StoredSuggestion)
            await uow.commit()
        return resolved


def _already_applied(name: str, current: StoredSuggestion) -> FailedPrecondition:
    return FailedPrecondition(f"{name} is already applied as {current.command}", reason="SUGGESTION_ALREADY_APPLIED",
                              metadata={"command": current.command})


async def resolve_suggestion(uow: UnitOfWork, organization: str, current: StoredSuggestion, state: str, *,
                             command: str = "", reason: str = "") -> StoredSuggestion:
    resolved = await uow.analyses.resolve(organization, current.id, state, command=command, reason=reason)
    await uow.announce(f"{organization}/{current.session_id}:suggestion:{current.id}")
    return resolved
