"""The job tracks a call is rehearsed on (``sparring.persona.v1.Blueprint``), by the short name services store."""

from __future__ import annotations

from enum import StrEnum


class Blueprint(StrEnum):
    SALES = "sales"
    AGENTIC_ENG = "agentic_eng"
    FULLSTACK = "fullstack"
    MARKETING = "marketing"
    IMPLEMENTATION = "implementation"
    HR = "hr"
    SECURITY = "security"
