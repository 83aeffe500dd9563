"""The guardrails part of a benchmark run: what finding and replacing personal data costs the transcript service's
ingest path (METHOD says how it is measured)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf import field_mask_pb2
from prometheus_client.parser import text_string_to_metric_families
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.persona.v1 import persona_service_pb2_grpc, safety_policy_service_pb2_grpc
from sparring.persona.v1 import safety_policy_service_pb2 as policy_pb
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb
from sparring.transcript.v1 import transcript_service_pb2_grpc as transcript_pb_grpc

from bench import persona, transcript
from bench.load import Result, merge, open_channels, percentile_ms
from bench.security import ADMIN_ROLES, SECURE
from bench.streams import open_streams, run_pipelined_load
from bench.transcript import TEXTS
from svckit import eventloop

SECTION = "## Guardrails on the transcript ingest path"
METHOD = """One transcript service and one persona service on this machine, one embedded PostgreSQL. Sessions of two
personas: `personas/sarah-chen` under its blueprint's default policy (personal data masked or redacted before it is
stored, the persona's turns screened by its output filters), and one whose policy keeps personal data and has no
output filters, whose utterances are stored as said without being looked at (guardrails off). Saturation as in the
transcript part (pipelined gateway streams), the two personas in interleaved rounds on fresh sessions, with two sets
of utterances: the transcript part's, which hold no digit and no "@" (the pre-filter passes over them), and the same
with every fourth replaced by one holding a card number, an email, a phone number or an IBAN, which Presidio's
recognizers then read."""
TARGET_RATIO = 0.85
TARGET_PREFLIGHT_P99_MS = 2.0
DEFAULT_POLICY, GUARDRAILS_OFF = "default policy", "guardrails off"
GUARDED_PERSONA = "personas/sarah-chen"  # the catalogue's, under its blueprint's default policy
UNGUARDED_PERSONA_ID = "bench-keeps-personal-data"
WITH_PII = (
    "Sure, the card on file is 4111 1111 1111 1111, it expires next March.",
    "Send the contract to priya.raman@initech.com and copy our legal team.",
    "Call my colleague on (415) 555-0198 after lunch, he owns the budget.",
    "Wire the deposit to GB82 WEST 1234 5698 7654 32 once the order is signed.",
)
BENCH_LOAD = "transcript part's utterances"  # the load the target is set on: what make bench streams
MIXES = {
    BENCH_LOAD: TEXTS,
    "1 in 4 with personal data": tuple(WITH_PII[i // 4 % len(WITH_PII)] if i % 4 == 3 else text
                                       for i, text in enumerate(TEXTS * 4)),
}


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


@dataclass
class Preflight:
    """SendCommand under the default policy: the service's own measure of the check, and the calls' latency."""

    commands: int
    mean_ms: float
    p99_at_most_ms: float  # the upper bound of the histogram bucket holding the 99th percentile
    call_p50_ms: float
    call_p99_ms: float


@dataclass
class Figures:
    results: dict[str, tuple[Result, Result]]  # mix -> (default policy, guardrails off)
    preflight: Preflight
    method: dict[str, str]

    def ratio(self, mix: str) -> float:
        guarded, unguarded = self.results[mix]
        return guarded.rate / unguarded.rate if unguarded.rate else 0.0


async def _persona_keeping_personal_data(address: str) -> str:
    async with SECURE.channel(address, ADMIN_ROLES) as channel:
        personas = persona_service_pb2_grpc.PersonaServiceStub(channel)
        name = f"personas/{UNGUARDED_PERSONA_ID}"
        with contextlib.suppress(grpc.aio.AioRpcError):  # already there from an earlier round
            await personas.CreatePersona(persona_pb.CreatePersonaRequest(persona_id=UNGUARDED_PERSONA_ID, persona=(
                persona_pb.Persona(slug=UNGUARDED_PERSONA_ID, display_name="Keeps Personal Data", role="VP Finance",
                                   blueprint=persona_pb.BLUEPRINT_SALES, difficulty=3))))
        await safety_policy_service_pb2_grpc.SafetyPolicyServiceStub(channel).UpdateSafetyPolicy(
            policy_pb.UpdateSafetyPolicyRequest(
                policy=policy_pb.SafetyPolicy(name=f"{name}/safetyPolicy",
                                              pii=policy_pb.PiiHandling(default_action=policy_pb.PII_ACTION_KEEP)),
                update_mask=field_mask_pb2.FieldMask(paths=["pii", "output_filters"])))  # and no output filters
        return name


async def _measure(args: argparse.Namespace, started: transcript.Started, persona_address: str) -> tuple[
        dict[str, tuple[Result, Result]], Preflight]:
    unguarded = await _persona_keeping_personal_data(persona_address)
    channels = open_channels(started.address, args.channels)
    try:
        await transcript.wait_service(started.child, channels[0])
        per_round = args.duration / args.rounds
        figures: dict[str, tuple[Result, Result]] = {}
        for mix, texts in MIXES.items():
            parts: dict[str, list[Result]] = {DEFAULT_POLICY: [], GUARDRAILS_OFF: []}
            log(f"guardrails, {mix}: {args.clients} streams (window {args.window}) on {args.channels} channels, "
                f"{args.rounds} interleaved rounds, {args.warmup:g}s warm-up + {per_round:g}s measured each")
            for round_number in range(1, args.rounds + 1):
                # Each goes first every other round, so a machine that slows or speeds up favours neither.
                pair = [(GUARDRAILS_OFF, unguarded), (DEFAULT_POLICY, GUARDED_PERSONA)]
                for name, persona_name in pair if round_number % 2 else reversed(pair):
                    sessions = await transcript.create_sessions(channels[0], f"g{round_number}", args.clients,
                                                                persona=persona_name)
                    streams = await open_streams(channels, sessions, texts, args.window)
                    result = await run_pipelined_load(name, streams, args.warmup, per_round, started.child)
                    log(f"  round {round_number} {name}: {result.rate:,.0f} msgs/s, p50 {result.percentile(50):.1f} "
                        f"p99 {result.percentile(99):.1f} ms" + (f", errors {result.errors}" if result.errors else ""))
                    parts[name].append(result)
            figures[mix] = (merge(parts[DEFAULT_POLICY]), merge(parts[GUARDRAILS_OFF]))
        preflight = await _measure_preflight(channels[0], started)
        log(f"pre-flight: {preflight.commands} commands, mean {preflight.mean_ms:.2f} ms, p99 at most "
            f"{preflight.p99_at_most_ms:g} ms; SendCommand p50 {preflight.call_p50_ms:.1f} p99 "
            f"{preflight.call_p99_ms:.1f} ms")
        return figures, preflight
    finally:
        for channel in channels:
            await channel.close()


PREFLIGHT_SESSIONS, COMMANDS_PER_SESSION = 300, 3  # within the default limits: nothing is refused
PREFLIGHT_WARMUP = 10  # sessions whose commands are sent first and not counted


async def _preflight_histogram(metrics_port: int | None) -> tuple[dict[float, float], float]:
    """The service's pre-flight histogram: cumulative counts by upper bound (seconds), and the sum of seconds."""
    buckets: dict[float, float] = {}
    total_seconds = 0.0
    if metrics_port is None:
        return buckets, total_seconds
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(
        f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode())
    for family in text_string_to_metric_families(text):
        if family.name == "sparring_transcript_preflight_seconds":
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    buckets[float(sample.labels["le"])] = sample.value
                elif sample.name.endswith("_sum"):
                    total_seconds = sample.value
    return buckets, total_seconds


async def _send_commands(stub: transcript_pb_grpc.TranscriptServiceStub, sessions: list[str]) -> list[float]:
    """COMMANDS_PER_SESSION context injections on each session, one at a time (what the check adds to a command,
    not how commands queue behind each other); their latencies in seconds."""
    latencies = []
    for session in sessions:
        for _ in range(COMMANDS_PER_SESSION):
            began = time.perf_counter()
            await stub.SendCommand(transcript_pb.SendCommandRequest(parent=session, command=transcript_pb.Command(
                type=transcript_pb.COMMAND_TYPE_CONTEXT_INJECTION, text="Mention budget concerns")), timeout=30)
            latencies.append(time.perf_counter() - began)
    return latencies


async def _measure_preflight(channel: grpc.aio.Channel, started: transcript.Started) -> Preflight:
    stub = transcript_pb_grpc.TranscriptServiceStub(channel)
    await _send_commands(stub, await transcript.create_sessions(channel, "preflight-warmup", PREFLIGHT_WARMUP))
    sessions = await transcript.create_sessions(channel, "preflight", PREFLIGHT_SESSIONS)
    before, seconds_before = await _preflight_histogram(started.metrics_port)
    latencies = await _send_commands(stub, sessions)
    after, seconds_after = await _preflight_histogram(started.metrics_port)
    counted = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    total = counted.get(float("inf"), 0.0)
    p99_bound = next((bound for bound in sorted(counted) if counted[bound] >= 0.99 * total), float("nan"))
    mean_ms = (seconds_after - seconds_before) / total * 1000 if total else float("nan")
    return Preflight(int(total), mean_ms, p99_bound * 1000, percentile_ms(latencies, 50), percentile_ms(latencies, 99))


def run(args: argparse.Namespace, root: Path, database_url: str, logs: Path) -> Figures:
    with contextlib.ExitStack() as stack:
        personas, persona_address = persona.start_catalogue_service(root, database_url, logs)
        stack.callback(personas.stop)
        started = transcript.start_service(root, database_url, logs, persona_address)
        stack.callback(started.child.stop)
        results, preflight = eventloop.run(_measure(args, started, persona_address))
    method = {"streams": str(args.clients), "channels": str(args.channels), "window": str(args.window),
              "warmup": f"{args.warmup:g}", "duration": f"{args.duration:g}", "rounds": str(args.rounds)}
    return Figures(results, preflight, method)


def section(figures: Figures, machine: str) -> str:
    m, p = figures.method, figures.preflight
    rows = []
    for mix, (guarded, unguarded) in figures.results.items():
        rounds = ", ".join(f"{g / u:.0%}" for g, u in zip(guarded.round_rates, unguarded.round_rates, strict=False)
                           if u)
        rows.append(f"| {mix} | {unguarded.rate:,.0f} | {guarded.rate:,.0f} | **{figures.ratio(mix):.1%}** "
                    f"({rounds}) | {unguarded.percentile(99):.1f} / {guarded.percentile(99):.1f} |")
    met = figures.ratio(BENCH_LOAD) >= TARGET_RATIO
    return f"""{SECTION}

{machine}

### Method

{METHOD}

{m['streams']} streams on {m['channels']} channels, a window of {m['window']} unacknowledged utterances each, \
{m['rounds']} rounds of {m['warmup']} s warm-up and {float(m['duration']) / int(m['rounds']):g} s measured per \
persona and set of utterances; TLS and tokens as in production. The machine is shared (two cores, other engineers' \
work running): read rounds a few points apart as noise.

### Results

| utterances | guardrails off (msgs/s) | default policy (msgs/s) | default / off (rounds) | ack p99 ms off / default |
|---|---|---|---|---|
{chr(10).join(rows)}

Target, on the load `make bench` streams ({BENCH_LOAD}): the default policy keeps at least {TARGET_RATIO:.0%} of \
the throughput with guardrails off: **{'met' if met else 'missed'}**. With personal data in one utterance in four \
there is no target: each such utterance costs about a millisecond of one core, most of it Presidio's phone \
recognizer (`docs/guardrails.md`).

### Pre-flight check of commands

{p.commands:,} SendCommands (context injections, {COMMANDS_PER_SESSION} on each of {PREFLIGHT_SESSIONS} fresh \
sessions of `personas/sarah-chen`, one at a time, all within the default limits; \
{PREFLIGHT_WARMUP * COMMANDS_PER_SESSION} more before them, not counted, as warm-up) while nothing else runs. \
The check (the policy from the cache, the session's recent commands counted in the command's transaction) \
as the service measures it (`sparring_transcript_preflight_seconds`): mean {p.mean_ms:.2f} ms, p99 at most \
{p.p99_at_most_ms:g} ms (the histogram bucket holding it). SendCommand as the caller sees it: p50 \
{p.call_p50_ms:.1f} ms, p99 {p.call_p99_ms:.1f} ms.

Target: the check adds less than {TARGET_PREFLIGHT_P99_MS:g} ms at p99 to SendCommand: \
**{'met' if p.p99_at_most_ms <= TARGET_PREFLIGHT_P99_MS else 'missed'}**.
"""
