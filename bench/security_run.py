"""The security part of a run (``--only security``): what TLS and bearer tokens cost, the same server code run in
two modes on one machine in one run, under the same load.

- **plaintext, anonymous**: development mode (``SPARRING_INSECURE_DEVELOPMENT=true``), no TLS, no token;
- **TLS + tokens**: as in production and in every other part of a run (``bench/security.py``).

1. GetPersona at saturation with h2load: the persona service and the echo ceiling, each in both modes, in rounds
   interleaved over the four.
2. StreamSession at saturation: pipelined gateway streams on the transcript service and on the stream ceiling,
   each in both modes, interleaved the same way (``bench.transcript_run.saturation``); then the ack latency of
   the service at a fixed offered load, in both modes.
3. The token check alone, in this process: ``svckit.guard.CallGuard.admit`` for a token verified before (found
   among the verified ones) and for a new one (verified in full), and for development mode's anonymous caller.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import math
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc

from access.permissions import PERMISSIONS
from bench import echo, h2load, instructions, persona, report, transcript, transcript_run
from bench.children import ChildProcess
from bench.load import OpenResult, Result, open_channels
from bench.security import CALLER_ROLES, ORGANIZATION, PLAINTEXT, RATE_LIMIT, SECURE, Mode
from bench.services import wait_listening
from devtools.credentials import AUDIENCE, ISSUER, SIGNING_ALGORITHM
from svckit import eventloop
from svckit.context import CallContext
from svckit.guard import CallGuard
from svckit.identity import JwksFile, Principal, TokenVerifier
from svckit.ratelimit import RateLimiter

SECTION = report.SECURITY_SECTION
MODES = (PLAINTEXT, SECURE)
TARGET_LOSS = 0.15  # throughput lost to TLS and tokens, at most
GET_PERSONA = "/sparring.persona.v1.PersonaService/GetPersona"
STREAM_SESSION = "/sparring.transcript.v1.TranscriptService/StreamSession"
TOKEN_CHECK_CALLS = 20_000  # admissions per batch of a token verified before
NEW_TOKENS = 2_000  # tokens verified in full, each once, per batch
TOKEN_CHECK_BATCHES = 5


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


def _name(call: str, mode: Mode) -> str:
    return f"{call}, {mode.label}"


@dataclass
class TokenCheck:
    """µs per ``CallGuard.admit``, the median of its batches."""

    label: str
    microseconds: float
    batches: list[float]


@dataclass
class Figures:
    unary: list[Result]  # h2load saturation: Echo and GetPersona, each plaintext then secure
    streams: list[Result]  # saturation: stream ceiling and service, each plaintext then secure
    open_results: list[OpenResult]  # the service at a fixed offered rate, plaintext then secure
    token_checks: list[TokenCheck]
    instruction_counts: list[instructions.Count]  # empty when valgrind is not installed
    targets: list[report.Target]
    method: dict[str, str]


@dataclass
class _Servers:
    personas: dict[Mode, tuple[ChildProcess, str]]
    echoes: dict[Mode, tuple[ChildProcess, str]]
    transcripts: dict[Mode, transcript.Started]
    ceilings: dict[Mode, transcript.Started]

    def children(self) -> list[ChildProcess]:
        return [*(child for child, _ in (*self.personas.values(), *self.echoes.values())),
                *(server.child for server in (*self.transcripts.values(), *self.ceilings.values()))]


def _start(stack: contextlib.ExitStack, root: Path, database_url: str, logs: Path) -> _Servers:
    """Every server in both modes; each transcript service checks sessions against the persona service of its own
    mode (its calls to it plaintext, or TLS with its own token). ``stack`` stops them all."""
    personas, echoes, transcripts, ceilings = {}, {}, {}, {}
    try:
        for mode in MODES:
            personas[mode] = persona.start_service(root, database_url, logs, mode=mode)
            echoes[mode] = echo.start_server(root, logs, mode=mode)
            transcripts[mode] = transcript.start_service(root, database_url, logs, personas[mode][1], mode=mode)
            ceilings[mode] = transcript.start_ceiling(root, database_url, logs, mode=mode)
    finally:
        servers = _Servers(personas, echoes, transcripts, ceilings)
        for child in servers.children():
            stack.callback(child.stop)
    return servers


async def _wait_ready(servers: _Servers) -> None:
    async def ready(mode: Mode, address: str, wait: Callable[[grpc.aio.Channel], Awaitable[None]]) -> None:
        async with mode.channel(address) as channel:
            await wait(channel)

    waits = []
    for mode in MODES:
        (persona_child, persona_address), (echo_child, echo_address) = servers.personas[mode], servers.echoes[mode]
        service, ceiling = servers.transcripts[mode], servers.ceilings[mode]
        waits += [ready(mode, persona_address, functools.partial(persona.wait_serving, persona_child)),
                  ready(mode, echo_address, functools.partial(echo.wait_serving, echo_child)),
                  ready(mode, service.address, functools.partial(transcript.wait_service, service.child)),
                  ready(mode, ceiling.address, functools.partial(wait_listening, ceiling.child))]
    await asyncio.gather(*waits)


# --- 1. GetPersona --------------------------------------------------------------------------------------


async def _get_persona(args: argparse.Namespace, servers: _Servers,
                       work_dir: Path) -> tuple[list[Result], h2load.Plan]:
    """Echo and GetPersona, each in both modes, at saturation with h2load; the catalogue is loaded first. Returns
    the results and GetPersona's plan."""
    _, address = servers.personas[SECURE]
    catalogue = await persona.load_catalogue(address)
    async with SECURE.channel(address) as channel:
        plans = {plan.scenario: plan for plan in await persona.h2load_plans(catalogue, channel)}
    scenarios = {}
    for call, chosen, plan in (("Echo", servers.echoes, echo.h2load_plan(catalogue.get_response_bytes)),
                               ("GetPersona", servers.personas, plans["GetPersona"])):
        for mode in MODES:
            child, server_address = chosen[mode]
            scenarios[_name(call, mode)] = h2load.Scenario(plan, server_address, child, mode)
    streams = args.clients // args.channels
    rounds, duration = args.security_rounds, _unary_duration(args)
    log(f"security, GetPersona with h2load: {len(scenarios)} scenarios x {rounds} rounds, interleaved: "
        f"{args.channels} connections x {streams} calls in flight, {args.warmup:g}s warm-up + "
        f"{duration / rounds:g}s measured each")
    results = await h2load.interleaved(scenarios, args.channels, streams, args.warmup, duration, rounds,
                                       work_dir, log)
    return results, plans["GetPersona"]


def _unary_duration(args: argparse.Namespace) -> float:
    """GetPersona's and Echo's measured seconds per scenario: ``--security-rounds`` rounds as long as the run's."""
    return args.duration / args.rounds * args.security_rounds


# --- 2. StreamSession -----------------------------------------------------------------------------------


async def _stream_session(args: argparse.Namespace, servers: _Servers,
                          database_url: str) -> tuple[list[Result], list[OpenResult]]:
    """The stream ceiling and the service, each in both modes, at saturation; then the service in both modes at
    ``--stream-rate``."""
    streaming: dict[str, transcript_run.Server] = {}
    for call, kind, chosen in (("Ceiling", transcript_run.CEILING, servers.ceilings),
                               ("StreamSession", transcript_run.SERVICE, servers.transcripts)):
        for mode in MODES:
            server = chosen[mode]
            streaming[_name(call, mode)] = transcript_run.Server(
                server.child, server.address, server.metrics_port, open_channels(server.address, args.channels, mode),
                kind)
    try:
        saturation = await transcript_run.saturation(args, streaming, database_url)
        log(f"security, StreamSession at a fixed offered load: {args.stream_rate:,.0f} msgs/s over {args.clients} "
            f"streams, {args.warmup:g}s warm-up + {args.open_duration:g}s measured, in each mode")
        open_results = []
        for mode in MODES:
            name = _name("StreamSession", mode)
            open_results.append(await transcript_run.open_loop(args, name, streaming[name], database_url))
        return saturation, open_results
    finally:
        for server in streaming.values():
            for channel in server.channels:
                await channel.close()


# --- 3. The token check ---------------------------------------------------------------------------------


async def _admissions(guard: CallGuard, method: str, credentials: list[str], rounds: int) -> float:
    """µs per admission of ``credentials``, ``rounds`` times over (each in a call context, as the wrapper makes)."""
    rule = guard.rule_of(method)
    started = time.perf_counter()
    for _ in range(rounds):
        for bearer in credentials:
            await guard.admit(CallContext("", method, bearer), rule)
    return (time.perf_counter() - started) / (rounds * len(credentials)) * 1e6


async def token_checks() -> list[TokenCheck]:
    """``CallGuard.admit`` as the services build it (their permission table, a rate limiter on costly calls), with
    the benchmark's own JWKS file and tokens, in batches; the median batch of each case."""
    credentials = SECURE.credentials
    limiter = RateLimiter(RATE_LIMIT, RATE_LIMIT)
    anonymous = CallGuard(PERMISSIONS, None, Principal("anonymous", ORGANIZATION, frozenset({"admin"})), limiter)

    def verifying() -> CallGuard:
        verifier = TokenVerifier(JwksFile(str(credentials.jwks_file)), ISSUER, AUDIENCE)
        return CallGuard(PERMISSIONS, verifier, limiter=limiter)

    known = verifying()
    bearer = f"Bearer {SECURE.token()}"
    await _admissions(known, GET_PERSONA, [bearer], 1)  # verified once: known from now on
    anonymous_label = "GetPersona, development mode (anonymous, no token)"
    known_label = "GetPersona, a token verified before (found among the verified ones)"
    stream_label = "StreamSession, a token verified before (and the rate limiter: a costly call)"
    new_label = f"GetPersona, a new token (verified in full: {SIGNING_ALGORITHM} signature, claims)"
    cases: dict[str, list[float]] = {label: [] for label in (anonymous_label, known_label, stream_label, new_label)}
    for _ in range(TOKEN_CHECK_BATCHES):
        cases[anonymous_label].append(await _admissions(anonymous, GET_PERSONA, [""], TOKEN_CHECK_CALLS))
        cases[known_label].append(await _admissions(known, GET_PERSONA, [bearer], TOKEN_CHECK_CALLS))
        cases[stream_label].append(await _admissions(known, STREAM_SESSION, [bearer], TOKEN_CHECK_CALLS))
        fresh = [f"Bearer {credentials.mint(f'bench-caller-{i}@{ORGANIZATION}', CALLER_ROLES, ORGANIZATION)}"
                 for i in range(NEW_TOKENS)]
        cases[new_label].append(await _admissions(verifying(), GET_PERSONA, fresh, 1))
    return [TokenCheck(label, statistics.median(batches), batches) for label, batches in cases.items()]


# --- the run --------------------------------------------------------------------------------------------


def _by_name(results: list[Result] | list[OpenResult]) -> dict[str, Result | OpenResult]:
    return {r.scenario: r for r in results}


def loss(plaintext: Result | OpenResult, secure: Result | OpenResult) -> float:
    """The share of the plaintext throughput lost with TLS and tokens."""
    return 1 - secure.rate / plaintext.rate if plaintext.rate else float("nan")


def _loss_target(call: str, results: list[Result], how: str) -> report.Target:
    by_name = _by_name(results)
    plaintext, secure = by_name[_name(call, PLAINTEXT)], by_name[_name(call, SECURE)]
    lost = loss(plaintext, secure)
    errors = plaintext.error_count + secure.error_count
    return report.Target(
        f"{call} throughput with TLS + tokens at most {TARGET_LOSS:.0%} below plaintext ({how})",
        lost <= TARGET_LOSS and not errors,
        f"{lost:.1%} lost: {secure.rate:,.0f} vs {plaintext.rate:,.0f}/s" + _round_losses(plaintext, secure)
        + (f", {errors} errors" if errors else ""))


def _round_losses(plaintext: Result | OpenResult, secure: Result | OpenResult) -> str:
    """Each round's loss (its secure run against its plaintext run, interleaved): how far one run's figure may
    be from the next run's."""
    if not isinstance(plaintext, Result) or not isinstance(secure, Result):
        return ""
    losses = sorted(1 - mine / other for mine, other in zip(secure.round_rates, plaintext.round_rates, strict=True)
                    if other)
    if len(losses) < 2:
        return ""
    return f"; round by round {losses[0]:.1%} to {losses[-1]:.1%}, median {statistics.median(losses):.1%}"


def targets(unary: list[Result], streams: list[Result], open_results: list[OpenResult],
            clients: int) -> list[report.Target]:
    secure_get = _by_name(unary)[_name("GetPersona", SECURE)]
    found = [_loss_target("GetPersona", unary, f"h2load, {clients} calls in flight"),
             _loss_target("StreamSession", streams, f"{clients} pipelined streams"),
             report.Target(f"GetPersona p99 under {persona.TARGET_P99_MS:g} ms with TLS + tokens (h2load, {clients} "
                           "calls in flight)",
                           secure_get.percentile(99) < persona.TARGET_P99_MS and not secure_get.errors,
                           f"p99 {secure_get.percentile(99):.2f} ms, p50 {secure_get.percentile(50):.2f} ms at "
                           f"{secure_get.rate:,.0f} calls/s")]
    secure_open = _by_name(open_results).get(_name("StreamSession", SECURE))
    if secure_open is not None:
        found.append(transcript_run.latency_target(
            f"StreamSession ack p99 under {transcript_run.TARGET_OPEN_P99_MS:g} ms with TLS + tokens at "
            f"{secure_open.offered:,.0f} msgs/s offered (open loop)", secure_open, transcript_run.TARGET_OPEN_P99_MS))
    return found


def run(args: argparse.Namespace, root: Path, database_url: str, logs: Path) -> Figures:
    """Starts every server in both modes, measures, stops them; returns the figures."""
    with contextlib.ExitStack() as stack:
        servers = _start(stack, root, database_url, logs)

        async def measure() -> tuple[list[Result], h2load.Plan, list[Result], list[OpenResult]]:
            began = time.monotonic()
            await _wait_ready(servers)
            log(f"security: {len(servers.children())} servers ready in {time.monotonic() - began:.1f}s")
            unary, plan = await _get_persona(args, servers, logs)
            streams, open_results = await _stream_session(args, servers, database_url)
            return unary, plan, streams, open_results

        unary, get_persona, streams, open_results = eventloop.run(measure())
        for child in servers.children():
            code = child.stop()
            if code not in (0, None):
                log(f"{child.name} exited with code {code} on SIGTERM; log {child.log_path}:\n{child.log_tail()}")
    log(f"security: the token check alone, {TOKEN_CHECK_BATCHES} batches")
    checks = eventloop.run(token_checks())
    counts = []
    if instructions.available():
        counts = instructions.counts(root, database_url, logs, get_persona, logs, log)
    else:
        log(f"{instructions.INSTALL_HINT}: instructions per call not counted")
    method = {
        "clients": str(args.clients), "channels": str(args.channels), "window": str(args.window),
        "warmup": f"{args.warmup:g}", "duration": f"{args.duration:g}", "rounds": str(args.rounds),
        "unary_duration": f"{_unary_duration(args):g}", "unary_rounds": str(args.security_rounds),
        "open_duration": f"{args.open_duration:g}", "rate": f"{args.stream_rate:,.0f}", "h2load": h2load.version(),
    }
    return Figures(unary, streams, open_results, checks, counts, targets(unary, streams, open_results, args.clients),
                   method)


# --- figures to text ------------------------------------------------------------------------------------

COST_HEADERS = ["call", "load", "plaintext /s", "TLS + tokens /s", "lost", "p50 ms plaintext", "p50 ms TLS + tokens",
                "p99 ms plaintext", "p99 ms TLS + tokens", "server CPU µs/call plaintext",
                "server CPU µs/call TLS + tokens", "loop waits/call plaintext", "loop waits/call TLS + tokens",
                "loop preempted/call plaintext", "loop preempted/call TLS + tokens"]


def _cpu_per_call(result: Result | OpenResult) -> str:
    """The server's CPU per call answered, in µs."""
    per_call = result.server_cpu / result.rate * 1e6 if result.rate else float("nan")
    return "n/a" if math.isnan(per_call) else f"{per_call:.0f}"


def _switches_per_call(result: Result | OpenResult, per_second: float) -> str:
    """How often the server's event loop thread left its core (``per_second``, one kind) per call answered."""
    per_call = per_second / result.rate if result.rate else float("nan")
    return "n/a" if math.isnan(per_call) else f"{per_call:.2f}"


def _cost_rows(results: list[Result] | list[OpenResult], calls: tuple[str, ...], load: str) -> list[list[str]]:
    """A row per call: both modes side by side; the loss only at saturation (at a fixed load both get it all)."""
    by_name = _by_name(results)
    rows = []
    for call in calls:
        plaintext, secure = by_name[_name(call, PLAINTEXT)], by_name[_name(call, SECURE)]
        lost = f"{loss(plaintext, secure):.1%}" if isinstance(secure, Result) else "-"
        rows.append([call, load, f"{plaintext.rate:,.0f}", f"{secure.rate:,.0f}", lost,
                     report.fmt_ms(plaintext.percentile(50)), report.fmt_ms(secure.percentile(50)),
                     report.fmt_ms(plaintext.percentile(99)), report.fmt_ms(secure.percentile(99)),
                     _cpu_per_call(plaintext), _cpu_per_call(secure),
                     _switches_per_call(plaintext, plaintext.server_waits),
                     _switches_per_call(secure, secure.server_waits),
                     _switches_per_call(plaintext, plaintext.server_preemptions),
                     _switches_per_call(secure, secure.server_preemptions)])
    return rows


def _cost_table(figures: Figures, table: Callable[[list[str], list[list[str]]], str]) -> str:
    clients = figures.method["clients"]
    body = [*_cost_rows(figures.unary, ("Echo", "GetPersona"), f"saturation, h2load, {clients} in flight"),
            *_cost_rows(figures.streams, ("Ceiling", "StreamSession"), f"saturation, {clients} streams")]
    if figures.open_results:
        body += _cost_rows(figures.open_results, ("StreamSession",), f"{figures.method['rate']} msgs/s offered")
    return table(COST_HEADERS, body)


def _token_table(figures: Figures, table: Callable[[list[str], list[list[str]]], str]) -> str:
    return table(["admission", "µs per call", "batches (µs per call)"],
                 [[c.label, f"{c.microseconds:.2f}", " / ".join(f"{b:.2f}" for b in c.batches)]
                  for c in figures.token_checks])


def _instruction_table(figures: Figures, table: Callable[[list[str], list[list[str]]], str]) -> str:
    if not figures.instruction_counts:
        return f"Not counted: {instructions.INSTALL_HINT}."
    return table(*instructions.rows(figures.instruction_counts))


def console(figures: Figures) -> str:
    return (f"Security cost (same servers, plaintext + anonymous vs TLS + tokens)\n\n"
            f"{_cost_table(figures, report.text_table)}\n\nThe token check alone (CallGuard.admit):\n\n"
            f"{_token_table(figures, report.text_table)}\n\nInstructions per GetPersona call (server, callgrind):\n\n"
            f"{_instruction_table(figures, report.text_table)}")


def section(figures: Figures, when: datetime | None = None) -> str:
    m = figures.method
    streams = int(m["clients"]) // int(m["channels"])
    per_stream = float(m["rate"].replace(",", "")) / int(m["clients"])
    return f"""{SECTION}

{report.machine_block(when or datetime.now(UTC), secure=False)}
- Load generators: {m['h2load']} (C) for the unary calls, the benchmark's own Python process (grpc.aio) for
  the streams

### Method

- The same server code in two modes, every server of both running side by side on one embedded
  PostgreSQL (a fresh database for this part), measured in turns under the same load:
  - **plaintext, anonymous**: development mode (`SPARRING_INSECURE_DEVELOPMENT=true`): no TLS, no token;
    anonymous callers act as admins of the organization the tokens name, so both modes see the same data;
  - **TLS + tokens**: as in production and in every other section of this file: TLS on every connection
    (a certificate of the benchmark's own local CA, `.data/bench-credentials`, ECDSA P-256), and a bearer
    token on every call ({SIGNING_ALGORITHM} JWT checked against the issuer's JWKS file, its principal kept once
    verified, under the header as it came; the services call each other with their own tokens). The ceilings
    listen with the same TLS and take the token without checking it.
- The per-caller rate limits of costly calls (stream opens, RenderPrompt;
  `<SERVICE>_RATE_LIMIT_PER_SECOND` and `_BURST`) are set to {RATE_LIMIT:,} in both modes and in every
  section: every stream of a run comes from one gateway identity, thousands at once, and a run measures
  the service, not its limit. The limiter still takes from its bucket on every such call.
- **GetPersona** (and **Echo**, the bare `grpc.aio` echo server, the ceiling: what TLS alone costs a server
  doing nothing else) at saturation with h2load, {m['channels']} connections x {streams} concurrent streams,
  one fixed request (the catalogue's first persona). h2load speaks TLS (https) without verifying the
  server's certificate, and sends the token as an `authorization` header. Each scenario is measured for
  {m['unary_duration']} s in all, in {m['unary_rounds']} rounds interleaved with the three others, each after
  {m['warmup']} s of warm-up; as in the persona section, calls/s is a fixed number of calls over the time they took.
  The loss is a ratio of two throughputs that each vary by 5-10% from one round to the next on this machine, so
  it is measured over more rounds than the other sections' throughputs.
- **StreamSession** (and **Ceiling**, the bare bidi server with the service's group commit) at saturation:
  {m['clients']} gateway streams on {m['channels']} channels, up to {m['window']} utterances unacked each,
  {m['duration']} s in all in {m['rounds']} rounds, fresh sessions each round (created through the API for the
  service); then the service alone at a fixed offered load of {m['rate']} msgs/s ({per_stream:g} per stream,
  {m['open_duration']} s measured after {m['warmup']} s of warm-up), as in the transcript section. The Python
  client sends the token as call metadata when it opens a stream: grpc's access-token call credentials run a
  Python plugin on every call, which cost the load generator about 200 µs of CPU per unary call on this machine.
- **lost**: the share of the plaintext throughput lost with TLS + tokens. Latency columns: at saturation,
  from send to answer (to ack for a stream's utterance); at the fixed load, from each utterance's
  scheduled send time to its ack. **loop waits/call** and **loop preempted/call**: how often the server's main
  thread, its event loop, left its core per call answered, of its own accord (waiting for work, or for a lock
  another thread holds: grpc's secure endpoint encrypts a connection's writes and decrypts its reads under one
  lock) and preempted (another thread was to run: grpc's I/O threads, which do the TLS work, the load generator,
  PostgreSQL, on two cores). They tell a loss made of waiting from one made of CPU taken from the loop.
- **Instructions per call**: the persona service started again under valgrind's callgrind, once in each of three
  modes (the two above, and between them **plaintext + tokens**: development mode with the issuer's JWKS, so the
  token h2load sends is checked as in production, without TLS), GetPersona called by h2load as above
  ({instructions.CONNECTIONS} connections x {instructions.STREAMS} in flight), {instructions.WARMUP_CALLS} calls
  uncounted, then the instructions of all the server's threads over {instructions.CALLS:,} calls, by the library they
  ran in; {instructions.ROUNDS} rounds interleaved over the modes. A count does not depend on what else the machine
  is doing, as a throughput does, but it is not exact either (how many calls a wake-up of a grpc thread or a TLS
  record serves depends on timing), and it is work, not time (callgrind runs the threads one at a time: no
  contention, no load generator in it).
- The token check alone: `svckit.guard.CallGuard.admit` in the benchmark's process, as the services build
  it (their permission table, the rate limiter on costly calls) with the same JWKS file, in
  {TOKEN_CHECK_BATCHES} batches of {TOKEN_CHECK_CALLS:,} admissions of a token verified before, and of {NEW_TOKENS:,}
  tokens new to the verifier, each admitted once (so verified in full); the median batch.

### Throughput and latency, plaintext against TLS + tokens

{_cost_table(figures, report.md_table)}

Every other section of this file measures the services with TLS + tokens: their targets (throughput
against a ceiling, latency) are met or missed with security on.

### The token check alone

{_token_table(figures, report.md_table)}

### Instructions per GetPersona call, by server mode

{_instruction_table(figures, report.md_table)}

### Targets

{report.target_lines(figures.targets)}
"""
