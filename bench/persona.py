"""The persona service under load: its process, its catalogue (loaded through the API) and its scenarios."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf import json_format
from sparring.persona.v1 import persona_service_pb2 as pb
from sparring.persona.v1 import persona_service_pb2_grpc as pb_grpc

from bench import h2load, services
from bench.children import ChildProcess
from bench.load import Call
from bench.security import ADMIN_ROLES, SECURE, Mode
from svckit import eventloop

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PersonaService"].full_name
# GetPersona at TARGET_RATIO of the echo ceiling or more, with p99 under TARGET_P99_MS (h2load at saturation).
TARGET_RATIO, TARGET_P99_MS = 0.70, 20.0
CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "persona_svc" / "catalogue"


def start_service(root: Path, database_url: str, log_dir: Path, profile_to: Path | None = None,
                  variant: tuple[str, ...] = (), mode: Mode = SECURE) -> tuple[ChildProcess, str]:
    """``python -m persona_svc`` on free ports; with ``profile_to``, under cProfile (written at exit);
    with ``variant`` flags, through ``bench.variant`` (diagnosis)."""
    name = mode.named("persona service" + (f" ({' '.join(variant)})" if variant else ""))
    log_name = mode.log_name("persona" + "".join(variant).replace("--", "-"))
    # no learning service in this run: rendering without patches
    return services.start_service("persona_svc", "PERSONA", root, database_url, log_dir / log_name, profile_to,
                                  variant, env={"PERSONA_LEARNING_ADDRESS": None}, name=name, mode=mode)


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
    return Catalogue(personas, scenarios, sorted(blueprints), round(sum(sizes) / len(sizes)))


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


async def h2load_plans(catalogue: Catalogue, channel: grpc.aio.Channel) -> list[h2load.Plan]:
    """GetPersona, ListPersonas and RenderPrompt for h2load, each with one fixed request (of the catalogue's
    first persona and scenario; ListPersonas unfiltered), and the response the service gives it now."""
    requests = {
        "GetPersona": pb.GetPersonaRequest(name=catalogue.persona_names[0]),
        "ListPersonas": pb.ListPersonasRequest(page_size=20),
        "RenderPrompt": pb.RenderPromptRequest(persona=catalogue.persona_names[0],
                                               scenario=catalogue.scenario_names[0]),
    }
    plans = []
    for method, request in requests.items():
        path = f"/{SERVICE_NAME}/{method}"
        body = request.SerializeToString()
        response = await channel.unary_unary(path)(body, timeout=10)  # raw bytes both ways
        plans.append(h2load.Plan(method, path, body, response))
    return plans
