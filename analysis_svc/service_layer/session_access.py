"""Who may do what with one session's analyses: by role, or as the session's interviewer.

The permission table admits roles to a method at all; this decides for one session. Everything is confined to the
caller's organization before it gets here (a session of another organization is not found), so the rules below
only tell apart callers of the session's own organization.
"""

from __future__ import annotations

from access.permissions import ADMIN, ANALYST, INTERVIEWER, SERVICE
from analysis_svc.service_layer.ports import SessionDirectory
from svckit.errors import FailedPrecondition, PermissionDenied
from svckit.identity import Principal

# Roles that reach every session of their organization, per kind of use; an interviewer reaches only its own.
READERS = frozenset({ADMIN, ANALYST, SERVICE})
REQUESTERS = frozenset({ADMIN, SERVICE})
ACTORS = frozenset({ADMIN})
# The transcript service's identity (its token's subject): the only caller whose reading windows are trusted.
TRANSCRIPT_SERVICE = "service:transcript"


def require_organization(caller: Principal) -> str:
    """The organization a new record belongs to: a service acting for none may create nothing."""
    if not caller.organization:
        raise FailedPrecondition(f"{caller.subject} acts for no organization (metadata x-sparring-organization)",
                                 reason="ORGANIZATION_REQUIRED")
    return caller.organization


def require_window_sender(caller: Principal) -> None:
    """A reading's window is taken as the call's messages: only the transcript service, which holds them, sends one."""
    if caller.subject != TRANSCRIPT_SERVICE or not caller.is_service:
        raise PermissionDenied("only the transcript service's identity may send a reading's window",
                               reason="WINDOW_NOT_ALLOWED", metadata={"field": "window"})


class SessionAccess:
    def __init__(self, directory: SessionDirectory) -> None:
        self._directory = directory

    async def require(self, caller: Principal, session_id: str, roles: frozenset[str]) -> None:
        """Passes callers with one of ``roles`` and the session's own interviewer; PermissionDenied for others."""
        if caller.has_any(roles):
            return
        _require_interviewer(caller, session_id, await self._directory.interviewer(caller.organization, session_id))

    async def require_watcher(self, caller: Principal, session_id: str) -> None:
        """Admins and the session's interviewer, once the session is known to be one of the caller's
        organization (NotFound otherwise, for admins too)."""
        interviewer = await self._directory.interviewer(caller.organization, session_id)
        if not caller.is_admin:
            _require_interviewer(caller, session_id, interviewer)


def _require_interviewer(caller: Principal, session_id: str, interviewer: str) -> None:
    if INTERVIEWER not in caller.roles or not interviewer or interviewer != caller.subject:
            raise PermissionDenied(f"{caller.subject} is not the interviewer of sessions/{session_id}",
                                   reason="NOT_A_PARTICIPANT", metadata={"session": f"sessions/{session_id}"})
