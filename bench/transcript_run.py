"""The transcript part of a benchmark run: the service, the stream ceiling and the unary design, measured in
turn on one database.

1. Throughput (saturation): pipelined gateway streams against the ceiling and the service, and as many
   unary callers against the one-call-per-message server, in interleaved rounds, fresh sessions each round.
2. Latency at a fixed offered load (open loop): utterances at scheduled times over the same number of
   streams, to the service, then to the ceiling for reference.
3. Many sessions: one stream per session, each sending an utterance at a fixed interval, held for a
   while; then every session's stored rows are checked against what was acked.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from bench import persona, report, transcript
from bench.children import ChildProcess
from bench.database import checkpoint
from bench.load import OpenResult, Result, merge, open_channels, run_load, run_open_load
from bench.services import wait_listening
from bench.streams import close_streams, open_streams, run_pipelined_load, stream_calls
from bench.transcript import TEXTS, CommitStats, LossCheck, Started, commit_stats
from svckit import eventloop

CEILING, SERVICE, UNARY = "Ceiling: bare bidi + group commit", "Transcript service", "Unary: one INSERT per call"
SATURATION, OPEN_LOOP, SESSIONS = "saturation", "open loop", "live sessions"
Commits = list[tuple[str, str, CommitStats]]
TARGET_CEILING_RATIO = 0.70
TARGET_UNARY_RATIO = 4.0
TARGET_OPEN_P99_MS = 15.0
TARGET_SESSIONS_P99_MS = 20.0


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


@dataclass
class Figures:
    saturation: list[Result]  # ceiling, service, unary
    open_results: list[OpenResult]  # the service, then the ceiling, at the same offered rate
    sessions: OpenResult
    loss: LossCheck
    targets: list[report.Target]
    method: dict[str, str]
    commits: Commits  # (phase, server, what its group commit did in that phase)


@dataclass
class Server:
    child: ChildProcess
    address: str
    metrics_port: int | None
    channels: list[grpc.aio.Channel]
    kind: str  # SERVICE, CEILING or UNARY, whatever the server is called in the tables
    commits: dict[str, CommitStats] = field(default_factory=dict)  # phase -> totals

    async def count_commits(self, phase: str, before: CommitStats) -> None:
        done = await commit_stats(self.metrics_port) - before
        self.commits[phase] = self.commits[phase] + done if phase in self.commits else done


async def _start_sessions(server: Server, database_url: str, label: str, count: int) -> list[str]:
    if server.kind == SERVICE:
        return await transcript.create_sessions(server.channels[0], label, count)
    return await transcript.insert_sessions(database_url, label, count)


async def saturation(args: argparse.Namespace, servers: dict[str, Server], database_url: str) -> list[Result]:
    parts: dict[str, list[Result]] = {name: [] for name in servers}
    per_round = args.duration / args.rounds
    log(f"transcript throughput (saturation): {len(servers)} servers x {args.rounds} rounds, interleaved: "
        f"{args.clients} streams (window {args.window}) or unary callers on {args.channels} channels, "
        f"{args.warmup:g}s warm-up + {per_round:g}s measured each")
    for round_number in range(1, args.rounds + 1):
        for name, server in servers.items():
            sessions = await _start_sessions(server, database_url, f"r{round_number}", args.clients)
            before = await commit_stats(server.metrics_port)
            if server.kind == UNARY:
                result = await run_load(name, transcript.unary_calls(server.channels, sessions), args.clients,
                                        args.warmup, per_round, server.child)
            else:
                streams = await open_streams(server.channels, sessions, TEXTS, args.window)
                result = await run_pipelined_load(name, streams, args.warmup, per_round, server.child)
            await server.count_commits(SATURATION, before)
            log(f"  round {round_number} {name}: {result.rate:,.0f} msgs/s, p50 {result.percentile(50):.1f} "
                f"p99 {result.percentile(99):.1f} ms" + (f", errors {result.errors}" if result.errors else ""))
            parts[name].append(result)
    return [merge(parts[name]) for name in servers]


async def open_loop(args: argparse.Namespace, name: str, server: Server, database_url: str) -> OpenResult:
    sessions = await _start_sessions(server, database_url, "open", args.clients)
    streams = await open_streams(server.channels, sessions, TEXTS, args.window)
    await checkpoint(database_url)
    before = await commit_stats(server.metrics_port)
    result = await run_open_load(name, stream_calls(streams), len(streams), args.stream_rate, args.warmup,
                                 args.open_duration, server.child, max_outstanding=args.window)
    await close_streams(streams)
    await server.count_commits(OPEN_LOOP, before)
    log(f"  {name}: offered {result.offered:,.0f}/s, achieved {result.rate:,.0f}/s, p50 {result.percentile(50):.1f} "
        f"p99 {result.percentile(99):.1f} max {result.percentile(100):.1f} ms, late {result.late}, held "
        f"{result.held}, not sent {result.unsent}, unanswered {result.unfinished}"
        + (f", errors {result.errors}" if result.errors else ""))
    return result


async def _many_sessions(args: argparse.Namespace, server: Server,
                         database_url: str) -> tuple[OpenResult, LossCheck]:
    started = time.monotonic()
    sessions = await transcript.create_sessions(server.channels[0], "held", args.sessions)
    channels = open_channels(server.address, args.session_channels)
    try:
        streams = await open_streams(channels, sessions, TEXTS, args.window)
        rate = args.sessions / args.session_interval
        log(f"{args.sessions:,} sessions created and their streams opened on {args.session_channels} channels in "
            f"{time.monotonic() - started:.1f}s; each sends an utterance every {args.session_interval:g}s "
            f"({rate:,.0f} msgs/s in all) for {args.hold:g}s")
        await checkpoint(database_url)
        before = await commit_stats(server.metrics_port)
        result = await run_open_load(f"{args.sessions:,} sessions", stream_calls(streams), len(streams), rate, 0.0,
                                     args.hold, server.child, max_outstanding=args.window)
        await close_streams(streams)
        await server.count_commits(SESSIONS, before)
    finally:
        for channel in channels:
            await channel.close()
    loss = await transcript.check_nothing_lost(database_url, streams)
    log(f"  offered {result.offered:,.0f}/s, achieved {result.rate:,.0f}/s, p50 {result.percentile(50):.1f} p99 "
        f"{result.percentile(99):.1f} max {result.percentile(100):.1f} ms, late {result.late}, not sent "
        f"{result.unsent}, unanswered {result.unfinished}" + (f", errors {result.errors}" if result.errors else ""))
    log(f"  {'nothing lost' if loss.passed else 'LOSS OR MISMATCH'}: {loss.describe()}")
    for line in loss.mismatched[:10]:
        log(f"    {line}")
    return result, loss


async def _measure(args: argparse.Namespace, started: dict[str, Started], database_url: str
                   ) -> tuple[list[Result], list[OpenResult], OpenResult, LossCheck, Commits]:
    servers = {name: Server(s.child, s.address, s.metrics_port, open_channels(s.address, args.channels), name)
               for name, s in started.items()}
    try:
        begin = time.monotonic()
        readiness: list[Awaitable[None]] = [transcript.wait_service(servers[SERVICE].child,
                                                                    servers[SERVICE].channels[0])]
        readiness += [wait_listening(servers[n].child, servers[n].channels[0]) for n in (CEILING, UNARY)]
        await asyncio.gather(*readiness)
        log(f"transcript servers ready in {time.monotonic() - begin:.1f}s")
        measured = await saturation(args, servers, database_url)
        open_results: list[OpenResult] = []
        if args.open_duration > 0:
            log(f"transcript latency at a fixed offered load (open loop): {args.stream_rate:,.0f} msgs/s over "
                f"{args.clients} streams, at most {args.window} unacked each, {args.warmup:g}s warm-up + "
                f"{args.open_duration:g}s measured")
            for name in (SERVICE, CEILING):
                open_results.append(await open_loop(args, name, servers[name], database_url))
        sessions, loss = await _many_sessions(args, servers[SERVICE], database_url)
        commits = [(phase, name, server.commits[phase]) for phase in (SATURATION, OPEN_LOOP, SESSIONS)
                   for name, server in servers.items() if phase in server.commits and server.metrics_port]
        return measured, open_results, sessions, loss, commits
    finally:
        for server in servers.values():
            for channel in server.channels:
                await channel.close()


def _ratio_text(mine: Result, reference: Result) -> str:
    return f"{mine.rate:,.0f} vs {reference.rate:,.0f} msgs/s"


def targets(saturation: list[Result], open_results: list[OpenResult], sessions: OpenResult,
            loss: LossCheck) -> list[report.Target]:
    by_name = {r.scenario: r for r in saturation}
    ceiling, service, unary = by_name[CEILING], by_name[SERVICE], by_name[UNARY]
    errors = service.error_count
    to_ceiling = service.rate / ceiling.rate if ceiling.rate else 0.0
    to_unary = service.rate / unary.rate if unary.rate else 0.0
    found = [
        report.Target(f"service throughput at least {TARGET_CEILING_RATIO:.0%} of the ceiling (saturation)",
                      to_ceiling >= TARGET_CEILING_RATIO and not errors,
                      f"{to_ceiling:.1%}: {_ratio_text(service, ceiling)}" + (f", {errors} errors" if errors else "")),
        report.Target(f"service throughput at least {TARGET_UNARY_RATIO:g}x the one-call-per-message design "
                      "(saturation)", to_unary >= TARGET_UNARY_RATIO and not errors,
                      f"{to_unary:.1f}x: {_ratio_text(service, unary)}"),
    ]
    open_service = next((r for r in open_results if r.scenario == SERVICE), None)
    if open_service is not None:
        found.append(latency_target(
            f"ack p99 under {TARGET_OPEN_P99_MS:g} ms at {open_service.offered:,.0f} msgs/s offered (open loop)",
            open_service, TARGET_OPEN_P99_MS))
    found.append(latency_target(
        f"ack p99 under {TARGET_SESSIONS_P99_MS:g} ms with {loss.sessions:,} live sessions (open loop)", sessions,
        TARGET_SESSIONS_P99_MS))
    found.append(report.Target(f"no message lost or doubled with {loss.sessions:,} live sessions", loss.passed,
                               loss.describe()))
    return found


def latency_target(text: str, result: OpenResult, limit_ms: float) -> report.Target:
    p99 = result.percentile(99)
    missed = result.error_count + result.unsent + result.unfinished
    return report.Target(
        text, p99 < limit_ms and not missed,
        f"p99 {p99:.2f} ms, p50 {result.percentile(50):.2f} ms, {result.rate:,.0f} msgs/s achieved"
        + (f", {result.error_count} errors" if result.errors else "")
        + (f", {result.unsent} not sent" if result.unsent else "")
        + (f", {result.unfinished} unanswered" if result.unfinished else ""))


def run(args: argparse.Namespace, root: Path, database_url: str, logs: Path,
        profile: Callable[[str], Path | None]) -> Figures:
    """Starts the three servers, measures, stops them; returns the figures."""
    with contextlib.ExitStack() as stack:
        started: dict[str, Started] = {}

        def add(name: str, server: Started) -> None:
            stack.callback(server.child.stop)
            started[name] = server

        personas, persona_address = persona.start_catalogue_service(root, database_url, logs)
        stack.callback(personas.stop)  # CreateSession checks the session's persona there
        # The service first: it migrates the database the bare servers write to.
        add(SERVICE, transcript.start_service(root, database_url, logs, persona_address, profile("transcript")))
        add(CEILING, transcript.start_ceiling(root, database_url, logs, profile("ceiling-stream")))
        add(UNARY, transcript.start_unary(root, database_url, logs, args.unary_pool))
        started = {name: started[name] for name in (CEILING, SERVICE, UNARY)}  # the order of the tables
        saturation, open_results, sessions, loss, commits = eventloop.run(_measure(args, started, database_url))
        for name, server in started.items():
            code = server.child.stop()
            if code not in (0, None):
                log(f"{name} exited with code {code} on SIGTERM; log {server.child.log_path}:\n"
                    f"{server.child.log_tail()}")
    method = {
        "streams": str(args.clients), "channels": str(args.channels), "window": str(args.window),
        "warmup": f"{args.warmup:g}", "duration": f"{args.duration:g}", "rounds": str(args.rounds),
        "open_duration": f"{args.open_duration:g}", "rate": f"{args.stream_rate:,.0f}",
        "sessions": f"{args.sessions:,}", "session_channels": str(args.session_channels),
        "session_interval": f"{args.session_interval:g}", "hold": f"{args.hold:g}",
        "unary_pool": str(args.unary_pool), "commit_max_batch": str(transcript.COMMIT_MAX_BATCH),
        "commit_max_delay_ms": f"{transcript.COMMIT_MAX_DELAY_MS:g}",
        "analysis_interval": str(transcript.ANALYSIS_INTERVAL),
        "words": f"{min(len(t.split()) for t in TEXTS)} to {max(len(t.split()) for t in TEXTS)}",
        "chars": f"{round(sum(len(t) for t in TEXTS) / len(TEXTS))}",
    }
    return Figures(saturation, open_results, sessions, loss, targets(saturation, open_results, sessions, loss),
                   method, commits)
