"""Whose resources a call works on: every stored resource belongs to one organization."""

from __future__ import annotations

from svckit.errors import FailedPrecondition


def owner(organization: str) -> str:
    """The organization a new resource will belong to; a caller acting for none (a service that named no
    organization) may create nothing."""
    if not organization:
        raise FailedPrecondition("the caller acts for no organization, so nothing can be created for it (a service "
                                 "names the organization it acts for in x-sparring-organization)",
                                 reason="ORGANIZATION_REQUIRED")
    return organization
