"""The voice part of a run (``--only voice``): call starts (TranscriptService.StartVoiceRound, which asks the persona
service for the persona's voice agent) on real service processes.

1. Latency of a start, one at a time, each on a new session: with the agent cached (it exists: no creation) and
   uncached (a new persona each time, so a new agent), on the `local` provider (no outside call: what is measured
   is ours alone) and on `elevenlabs`, the real SDK against a fake of its API on loopback (in this process) that
   answers at once.
2. Reliability: STARTS starts, CONCURRENCY in flight, each with a DEADLINE_SECONDS deadline, on `elevenlabs`
   against the fake failing FAILURE_RATE of its requests at random (a 500, a 429 or a malformed body), over
   PERSONAS personas (so agents are created as well as reused): the share that succeeds within its deadline.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.persona.v1 import persona_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from bench import persona, report, services, transcript
from bench.load import percentile_ms
from bench.security import ADMIN_ROLES, SECURE
from devtools.fake_elevenlabs import API_KEY, FakeElevenLabs, serving
from svckit import eventloop

SECTION = "## Voice rounds"
STARTS, CONCURRENCY, PERSONAS, FAILURE_RATE, DEADLINE_SECONDS = 1000, 20, 50, 0.2, 15.0
LATENCY_STARTS = 100
TARGET_SUCCESS, TARGET_CACHED_P99_MS, TARGET_OVERHEAD_P99_MS = 0.999, 50.0, 20.0
PROVIDERS = ("local", "elevenlabs")


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


@dataclass
class Latency:
    label: str
    seconds: list[float]

    def ms(self, q: float) -> float:
        return percentile_ms(self.seconds, q)


@dataclass
class Figures:
    latencies: list[Latency]
    succeeded: int
    failures: dict[str, int]  # status code name -> starts
    provider_requests: int  # during the reliability run
    injected: int  # failures the fake chose, all of them during the reliability run
    elapsed: float
    targets: list[report.Target]


class _Clients:
    def __init__(self, persona_address: str, transcript_address: str) -> None:
        self.persona_channel = SECURE.channel(persona_address, roles=ADMIN_ROLES)
        self.transcript_channel = SECURE.channel(transcript_address)
        self.personas = persona_service_pb2_grpc.PersonaServiceStub(self.persona_channel)
        self.transcripts = transcript_service_pb2_grpc.TranscriptServiceStub(self.transcript_channel)

    async def new_persona(self, tag: str) -> str:
        reply = await self.personas.CreatePersona(persona_pb.CreatePersonaRequest(persona=persona_pb.Persona(
            slug=f"voice-{tag}", display_name=f"Voice {tag}", role="VP Finance", blueprint=persona_pb.BLUEPRINT_SALES,
            difficulty=3, prompt_template="You are {persona.name}, {persona.role}. {difficulty_instructions}",
            first_message_template="Hi, {persona.name} here.",
            config=persona_pb.PersonaConfig(voice_enabled=True, voice_id="21m00Tcm4TlvDq8ikWAM"))))
        return reply.persona.name

    async def new_session(self, persona_name: str) -> str:
        reply = await self.transcripts.CreateSession(pb.CreateSessionRequest(session=pb.Session(
            persona=persona_name, blueprint=persona_pb.BLUEPRINT_SALES)))
        return reply.session.name

    async def start(self, session: str, provider: str) -> pb.VoiceRound:
        reply = await self.transcripts.StartVoiceRound(
            pb.StartVoiceRoundRequest(parent=session, provider=provider), timeout=DEADLINE_SECONDS)
        return reply.voice_round

    async def close(self) -> None:
        await self.persona_channel.close()
        await self.transcript_channel.close()


async def _latencies(clients: _Clients) -> list[Latency]:
    results = []
    for provider in PROVIDERS:
        cached_persona = await clients.new_persona(f"{provider}-cached")
        await clients.start(await clients.new_session(cached_persona), provider)  # its agent, made once
        for label, cached in (("cached", True), ("uncached", False)):
            seconds = []
            for index in range(LATENCY_STARTS):
                name = cached_persona if cached else await clients.new_persona(f"{provider}-{index}")
                session = await clients.new_session(name)
                began = time.perf_counter()
                voice_round = await clients.start(session, provider)
                seconds.append(time.perf_counter() - began)
                assert voice_round.agent_reused == cached, (provider, label)
            results.append(Latency(f"{provider}, agent {label}", seconds))
            log(f"voice: {results[-1].label}: p50 {results[-1].ms(50):.1f} ms, p99 {results[-1].ms(99):.1f} ms")
    return results


async def _reliability(clients: _Clients, fake: FakeElevenLabs) -> tuple[int, dict[str, int], int]:
    """Starts that succeeded, failures by status code, and the requests the fake answered meanwhile."""
    personas = [await clients.new_persona(f"flaky-{index}") for index in range(PERSONAS)]
    sessions = [await clients.new_session(personas[index % PERSONAS]) for index in range(STARTS)]
    requests_before = sum(fake.requests.values())
    fake.failure_rate = FAILURE_RATE
    limit = asyncio.Semaphore(CONCURRENCY)
    failures: dict[str, int] = {}

    async def one(session: str) -> bool:
        async with limit:
            try:
                await clients.start(session, "elevenlabs")
            except grpc.aio.AioRpcError as error:
                failures[error.code().name] = failures.get(error.code().name, 0) + 1
                return False
            return True

    outcomes = await asyncio.gather(*(one(session) for session in sessions))
    fake.failure_rate = 0.0
    return sum(outcomes), failures, sum(fake.requests.values()) - requests_before


def run(root: Path, database_url: str, logs: Path) -> Figures:
    with serving(seed=20) as fake:
        persona_child, persona_address = services.start_service(
            "persona_svc", "PERSONA", root, database_url, logs / "persona-voice.log", name="persona service (voice)",
            env={"PERSONA_LEARNING_ADDRESS": None, "PERSONA_ELEVENLABS_API_KEY": API_KEY,
                 "PERSONA_ELEVENLABS_BASE_URL": fake.base_url})
        started = None
        try:
            started = transcript.start_service(root, database_url, logs, persona_address)

            async def measure() -> tuple[list[Latency], int, dict[str, int], int, float]:
                clients = _Clients(persona_address, started.address)
                try:
                    await persona.wait_serving(persona_child, clients.persona_channel)
                    await transcript.wait_service(started.child, clients.transcript_channel)
                    latencies = await _latencies(clients)
                    log(f"voice: {STARTS} starts, {CONCURRENCY} in flight, the fake failing {FAILURE_RATE:.0%}")
                    began = time.monotonic()
                    succeeded, failures, requests = await _reliability(clients, fake)
                    return latencies, succeeded, failures, requests, time.monotonic() - began
                finally:
                    await clients.close()

            latencies, succeeded, failures, requests, elapsed = eventloop.run(measure())
        finally:
            if started is not None:
                started.child.stop()
            persona_child.stop()
        return Figures(latencies, succeeded, failures, requests, fake.injected, elapsed,
                       _targets(latencies, succeeded))


def _targets(latencies: list[Latency], succeeded: int) -> list[report.Target]:
    by_label = {latency.label: latency for latency in latencies}
    share = succeeded / STARTS
    cached = [by_label[f"{provider}, agent cached"].ms(99) for provider in PROVIDERS]
    overhead = by_label["local, agent uncached"].ms(99)
    return [
        report.Target(f"≥ {TARGET_SUCCESS:.1%} of {STARTS:,} starts succeed within {DEADLINE_SECONDS:g} s with the "
                      f"provider failing {FAILURE_RATE:.0%} of requests", share >= TARGET_SUCCESS, f"{share:.2%}"),
        report.Target(f"a start with a cached agent: p99 < {TARGET_CACHED_P99_MS:g} ms",
                      max(cached) < TARGET_CACHED_P99_MS, " / ".join(f"{p} {v:.1f} ms" for p, v in
                                                                      zip(PROVIDERS, cached, strict=True))),
        report.Target(f"an uncached start, ours alone (local provider): p99 < {TARGET_OVERHEAD_P99_MS:g} ms",
                      overhead < TARGET_OVERHEAD_P99_MS, f"{overhead:.1f} ms"),
    ]


def console(figures: Figures) -> str:
    lines = [f"{'start':32} {'p50 ms':>8} {'p99 ms':>8}"]
    lines += [f"{latency.label:32} {latency.ms(50):8.1f} {latency.ms(99):8.1f}" for latency in figures.latencies]
    lines.append(f"\n{figures.succeeded:,} of {STARTS:,} starts succeeded in {figures.elapsed:.1f} s; failures: "
                 f"{figures.failures or 'none'}; provider requests {figures.provider_requests:,}, of which "
                 f"{figures.injected:,} failed on purpose")
    return "\n".join(lines)


def section(figures: Figures) -> str:
    rows = [[latency.label, report.fmt_ms(latency.ms(50)), report.fmt_ms(latency.ms(99))]
            for latency in figures.latencies]
    return f"""{SECTION}

{report.machine_block(datetime.now(UTC))}
- The machine was shared with other work during this run (two cores, several users): the figures are an upper
  bound of what the services cost, and the latencies in particular move from run to run.

### Method

`python -m bench --only voice` (`bench/voice.py`): a persona service (ElevenLabs pointed at a fake of its API on
loopback, in the load generator's process, which answers at once) and a transcript service, each its own process
on one PostgreSQL. Each start is `StartVoiceRound` on a new session, timed at the client.

- Latency: {LATENCY_STARTS} starts one at a time per row. *cached*: the persona's agent exists (no creation; on
  `elevenlabs` still one signed-URL request per start). *uncached*: a new persona each time, so a new agent
  (on `elevenlabs` a creation and a signed URL). On `local` nothing leaves the service: its uncached row is our
  own cost of making an agent (rendering, the key's advisory lock, the row).
- Reliability: {STARTS:,} starts, {CONCURRENCY} in flight, each with a {DEADLINE_SECONDS:g} s deadline, over
  {PERSONAS} personas, on `elevenlabs` with the fake failing {FAILURE_RATE:.0%} of its requests at random (a 500, a
  429 with Retry-After 0, or a body that is not JSON). Defaults of the service: 4 s per try, 4 retries, a 10 s
  budget per operation.

### Latency of a start

{report.md_table(["start", "p50 ms", "p99 ms"], rows)}

### Starts with the provider failing {FAILURE_RATE:.0%} of requests

{figures.succeeded:,} of {STARTS:,} starts succeeded within their deadline ({figures.succeeded / STARTS:.2%}) in
{figures.elapsed:.1f} s; failed: {figures.failures or "none"}. The fake answered {figures.provider_requests:,}
requests, {figures.injected:,} of them failures it chose at random.

### Targets

{report.target_lines(figures.targets)}
"""
