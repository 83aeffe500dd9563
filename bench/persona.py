"""The persona service under load: its process, its catalogue (loaded through the API) and its scenarios."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf import field_mask_pb2, json_format
from sparring.persona.v1 import memory_service_pb2 as memory_pb
from sparring.persona.v1 import memory_service_pb2_grpc as memory_grpc
from sparring.persona.v1 import persona_service_pb2 as pb
from sparring.persona.v1 import persona_service_pb2_grpc as pb_grpc

from bench import h2load, services
from bench.children import ChildProcess
from bench.load import Call
from bench.security import ADMIN_ROLES, SECURE, Mode
from svckit import eventloop

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PersonaService"].full_name
MEMORY_SCENARIO = "RenderPrompt with memory"
# GetPersona at TARGET_RATIO of the echo ceiling or more, with p99 under TARGET_P99_MS (h2load at saturation).
TARGET_RATIO, TARGET_P99_MS = 0.70, 20.0
CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "persona_svc" / "catalogue"
# Candidates each persona remembers (a working memory and the facts of one earlier call), for RenderPrompt with memory.
CANDIDATES = 10
EARLIER_CALL = [
    memory_pb.SessionMessage(sequence=1, role=memory_pb.MESSAGE_ROLE_PERSONA,
                             text="we run on spreadsheets and our cfo wants every vendor assessed before renewal"),
    memory_pb.SessionMessage(sequence=2, role=memory_pb.MESSAGE_ROLE_CANDIDATE,
                             text="our platform starts at forty thousand a year; i'll send the security "
                                  "questionnaire by friday"),
]


def start_service(root: Path, database_url: str, log_dir: Path, profile_to: Path | None = None,
                  variant: tuple[str, ...] = (), mode: Mode = SECURE,
                  under: Sequence[str] = ()) -> tuple[ChildProcess, str]:
    """``python -m persona_svc`` on free ports; with ``profile_to``, under cProfile (written at exit);
    with ``variant`` flags, through ``bench.variant`` (diagnosis); ``under``: a command the interpreter runs under
    (valgrind: ``bench.instructions``)."""
    name = mode.named("persona service" + (f" ({' '.join(variant)})" if variant else ""))
    log_name = mode.log_name("persona" + "".join(variant).replace("--", "-"))
    # no learning service in this run: rendering without patches
    return services.start_service("persona_svc", "PERSONA", root, database_url, log_dir / log_name, profile_to,
                                  variant, env={"PERSONA_LEARNING_ADDRESS": None}, name=name, mode=mode, under=under)


def start_catalogue_service(root: Path, database_url: str, log_dir: Path) -> tuple[ChildProcess, str]:
    """A persona service holding the sample catalogue, for the services that check the personas their calls
    name (CreateSession); returns once the catalogue is loaded."""
    child, address = services.start_service("persona_svc", "PERSONA", root, database_url,
                                            log_dir / "persona-catalogue.log",
                                            env={"PERSONA_LEARNING_ADDRESS": None}, name="persona service (catalogue)")

    async def load() -> None:
        async with SECURE.channel(address) as channel:
            await wait_serving(child, channel)
        await load_catalogue(address)

    try:
        eventloop.run(load())
    except BaseException:
        child.stop()
        raise
    return child, address


async def wait_serving(child: ChildProcess, channel: grpc.aio.Channel, within: float = 90.0) -> None:
    """Until the standard health service reports the PersonaService SERVING (it migrates first)."""
    await services.wait_healthy(child, channel, SERVICE_NAME, within)


@dataclass(frozen=True)
class Catalogue:
    persona_names: list[str]
    scenario_names: list[str]
    blueprints: list[int]
    get_response_bytes: int  # mean serialized size of a GetPersonaResponse
    candidates: list[str]  # "candidates/{id}" every persona remembers


def _items(file: str) -> list[dict]:
    return json.loads((CATALOGUE_DIR / file).read_text())


async def load_catalogue(address: str, mode: Mode = SECURE) -> Catalogue:
    """Creates the sample archetypes, scenarios and personas through the API, as an admin would (the catalogue
    has a protected persona)."""
    async with mode.channel(address, ADMIN_ROLES) as channel:
        stub = pb_grpc.PersonaServiceStub(channel)
        for item in _items("archetypes.json"):
            await stub.CreateArchetype(pb.CreateArchetypeRequest(
                archetype=json_format.ParseDict(item["archetype"], pb.Archetype()), archetype_id=item["archetype_id"],
            ), timeout=10)
        scenarios = []
        for item in _items("scenarios.json"):
            reply = await stub.CreateScenario(pb.CreateScenarioRequest(
                scenario=json_format.ParseDict(item["scenario"], pb.Scenario()), scenario_id=item["scenario_id"],
            ), timeout=10)
            scenarios.append(reply.scenario.name)
        personas, blueprints = [], set()
        for item in _items("personas.json"):
            reply = await stub.CreatePersona(pb.CreatePersonaRequest(
                persona=json_format.ParseDict(item["persona"], pb.Persona()), persona_id=item["persona_id"],
            ), timeout=10)
            personas.append(reply.persona.name)
            blueprints.add(reply.persona.blueprint)
        sizes = [(await stub.GetPersona(pb.GetPersonaRequest(name=name), timeout=10)).ByteSize() for name in personas]
        candidates = await _remember_candidates(memory_grpc.MemoryServiceStub(channel), personas)
    return Catalogue(personas, scenarios, sorted(blueprints), round(sum(sizes) / len(sizes)), candidates)


async def _remember_candidates(memories: memory_grpc.MemoryServiceStub, personas: list[str]) -> list[str]:
    """Each persona's working memory of CANDIDATES candidates, and the facts of one earlier call with each."""
    candidates = [f"bench-candidate-{n}" for n in range(CANDIDATES)]
    for persona in personas:
        for candidate in candidates:
            await memories.UpdateWorkingMemory(memory_pb.UpdateWorkingMemoryRequest(
                working_memory=memory_pb.WorkingMemory(
                    name=f"{persona}/candidates/{candidate}/workingMemory", task_context="round 2 of the interview",
                    active_goals=["check the questionnaire arrived"], scratchpad={"budget": "forty thousand"}),
                update_mask=field_mask_pb2.FieldMask(paths=["*"])), timeout=10)
            await memories.RecordSessionFacts(memory_pb.RecordSessionFactsRequest(
                parent=f"{persona}/candidates/{candidate}", session=f"sessions/bench-{candidate}",
                messages=EARLIER_CALL), timeout=10)
    return [f"candidates/{candidate}" for candidate in candidates]


def _picker(names: list[str]):
    """A fixed pseudo-random sequence, indexed by the client's counter (no shared RNG state between clients)."""
    shuffled = names * 8
    random.Random(42).shuffle(shuffled)
    return lambda n: shuffled[n % len(shuffled)]


def get_persona(catalogue: Catalogue):
    pick = _picker(catalogue.persona_names)

    def make(channel: grpc.aio.Channel) -> Call:
        method = pb_grpc.PersonaServiceStub(channel).GetPersona
        return lambda n: method(pb.GetPersonaRequest(name=pick(n)))

    return make


def list_personas(catalogue: Catalogue):
    """page_size 20; every other call filters by a blueprint."""
    requests = [pb.ListPersonasRequest(page_size=20)]
    requests += [pb.ListPersonasRequest(page_size=20, blueprint=b) for b in catalogue.blueprints]
    requests = [requests[0]] * len(catalogue.blueprints) + requests[1:]  # half unfiltered

    def make(channel: grpc.aio.Channel) -> Call:
        method = pb_grpc.PersonaServiceStub(channel).ListPersonas
        return lambda n: method(requests[n % len(requests)])

    return make


def render_prompt(catalogue: Catalogue):
    pick_persona = _picker(catalogue.persona_names)
    pick_scenario = _picker(catalogue.scenario_names)

    def make(channel: grpc.aio.Channel) -> Call:
        method = pb_grpc.PersonaServiceStub(channel).RenderPrompt
        return lambda n: method(pb.RenderPromptRequest(persona=pick_persona(n), scenario=pick_scenario(n // 3)))

    return make


def render_prompt_with_memory(catalogue: Catalogue):
    """RenderPrompt for a persona and a candidate it remembers."""
    pick_persona = _picker(catalogue.persona_names)
    pick_candidate = _picker(catalogue.candidates)

    def make(channel: grpc.aio.Channel) -> Call:
        method = pb_grpc.PersonaServiceStub(channel).RenderPrompt
        return lambda n: method(pb.RenderPromptRequest(persona=pick_persona(n), candidate=pick_candidate(n // 7)))

    return make


async def h2load_plans(catalogue: Catalogue, channel: grpc.aio.Channel) -> list[h2load.Plan]:
    """GetPersona, ListPersonas and RenderPrompt for h2load, each with one fixed request (of the catalogue's
    first persona and scenario; ListPersonas unfiltered), and the response the service gives it now."""
    requests = {
        "GetPersona": pb.GetPersonaRequest(name=catalogue.persona_names[0]),
        "ListPersonas": pb.ListPersonasRequest(page_size=20),
        "RenderPrompt": pb.RenderPromptRequest(persona=catalogue.persona_names[0],
                                               scenario=catalogue.scenario_names[0]),
        MEMORY_SCENARIO: pb.RenderPromptRequest(persona=catalogue.persona_names[0],
                                                scenario=catalogue.scenario_names[0],
                                                candidate=catalogue.candidates[0]),
    }
    plans = []
    for method, request in requests.items():
        path = f"/{SERVICE_NAME}/{method.split()[0]}"
        body = request.SerializeToString()
        response = await channel.unary_unary(path)(body, timeout=10)  # raw bytes both ways
        plans.append(h2load.Plan(method, path, body, response))
    return plans
