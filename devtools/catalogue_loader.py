"""Loads the sample catalogue the persona service ships (persona_svc/catalogue/*.json) through its public API.

Idempotent: what already exists is left as it is (it may have been edited since).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from sparring.persona.v1 import persona_service_pb2 as pb
from sparring.persona.v1 import persona_service_pb2_grpc


@dataclass
class LoadReport:
    created: int = 0
    existing: int = 0


def _entries(name: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(
        (resources.files("persona_svc") / "catalogue" / name).read_text(encoding="utf-8"))
    return entries


async def _create(call: Callable[..., Awaitable[object]], request: Message, report: LoadReport) -> None:
    try:
        await call(request, timeout=10)
        report.created += 1
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
        report.existing += 1


async def load_catalogue(channel: grpc.aio.Channel) -> LoadReport:
    stub = persona_service_pb2_grpc.PersonaServiceStub(channel)
    report = LoadReport()
    for entry in _entries("archetypes.json"):
        archetype = json_format.ParseDict(entry["archetype"], pb.Archetype())
        await _create(stub.CreateArchetype,
                      pb.CreateArchetypeRequest(archetype=archetype, archetype_id=entry["archetype_id"]), report)
    for entry in _entries("scenarios.json"):
        scenario = json_format.ParseDict(entry["scenario"], pb.Scenario())
        await _create(stub.CreateScenario,
                      pb.CreateScenarioRequest(scenario=scenario, scenario_id=entry["scenario_id"]), report)
    for entry in _entries("personas.json"):
        persona = json_format.ParseDict(entry["persona"], pb.Persona())
        await _create(stub.CreatePersona,
                      pb.CreatePersonaRequest(persona=persona, persona_id=entry["persona_id"]), report)
    return report
