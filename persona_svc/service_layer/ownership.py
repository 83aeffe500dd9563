"""Who may change a persona and what belongs to it: one rule for the catalogue, memory settings and safety
policies; and who may render patches no one published."""

from __future__ import annotations

from persona_svc.domain.model import Persona
from svckit.context import CallContext
from svckit.errors import PermissionDenied


def require_right_to_change(caller: CallContext, persona: Persona | None, action: str, resource: str) -> None:
    """Admins change anything of their organization; a persona's owners change it and what belongs to it unless it
    is protected; what belongs to no persona (an organization's default) needs an admin."""
    if caller.is_admin:
        return
    if persona is None or persona.fields.protected:
        protected = f"{persona.resource_name} is protected; " if persona is not None else ""
        raise PermissionDenied(f"{protected}{action} {resource} needs the admin role", reason="ADMIN_REQUIRED",
                               metadata={"resource": resource})
    if caller.actor not in persona.fields.owners:
        raise PermissionDenied(f"{action} {resource} needs the admin role or to be one of "
                               f"{persona.resource_name}'s owners", reason="NOT_AN_OWNER",
                               metadata={"resource": resource})


# The learning service's identity (its token's subject): it renders the changes it validates.
LEARNING_SERVICE = "service:learning"


def require_right_to_render_unpublished(caller: CallContext, field: str) -> None:
    """Candidate patches, and published patches withheld, render what no one approved: the learning service
    validating a change, and admins, only. ``field`` names what the request sent (its reason, upper-cased)."""
    if not caller.is_admin and caller.actor != LEARNING_SERVICE:
        raise PermissionDenied(f"rendering {field.replace('_', ' ')} needs the admin role or the learning service's "
                               "identity", reason=f"{field.upper()}_NOT_ALLOWED", metadata={"field": field})
