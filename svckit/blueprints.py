"""The job track (``sparring.persona.v1.Blueprint``) as the services store it: a short lowercase name, the value of
``calls.job_tracks.Blueprint``. Conversion only, shared by the services whose messages carry the enum."""

from __future__ import annotations

from sparring.persona.v1 import persona_service_pb2 as persona_pb

_PREFIX = "BLUEPRINT_"


def blueprint_name(value: int) -> str:
    """``BLUEPRINT_SALES`` -> ``sales``; empty for BLUEPRINT_UNSPECIFIED. ValueError for an unknown number."""
    return persona_pb.Blueprint.Name(value).removeprefix(_PREFIX).lower() if value else ""


def blueprint_value(name: str) -> persona_pb.Blueprint.ValueType:
    """``sales`` -> ``BLUEPRINT_SALES``; BLUEPRINT_UNSPECIFIED for an empty name."""
    return persona_pb.Blueprint.Value(f"{_PREFIX}{name.upper()}") if name else persona_pb.BLUEPRINT_UNSPECIFIED
