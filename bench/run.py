"""Orchestration of one benchmark run: database, processes, load, report, and a clean stop whatever happens."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import pstats
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from bench import (
    analysis_run,
    echo,
    guardrails_run,
    h2load,
    handoff,
    persona,
    report,
    security_run,
    streams,
    transcript,
    transcript_run,
    voice,
)
from bench.children import ChildProcess
from bench.database import fresh_database, start_postgres
from bench.load import OpenResult, Result, merge, open_channels, run_load, run_open_load
from bench.persona import TARGET_P99_MS, TARGET_RATIO
from svckit import eventloop

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
SCENARIOS = ("Echo", "GetPersona", "ListPersonas", "RenderPrompt", persona.MEMORY_SCENARIO)
# Open loop (the Python load generator): Echo, GetPersona and RenderPrompt are offered OPEN_SHARE of the echo ceiling
# that generator measured in the same run; ListPersonas, far slower, OPEN_SHARE of its own throughput. Half, not
# TARGET_RATIO: with that client on the same two cores, 70% of its echo ceiling can already saturate the machine.
OPEN_SHARE = 0.5
DIAGNOSIS_VARIANTS = {  # bench.variant flags -> label
    "--no-wrapping": "calls not wrapped",
}


PARTS = ("persona", "transcript", "analysis", "streams", "security", "voice", "guardrails", "handoff")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmarks of the persona service (against a bare grpc.aio echo "
        "server) and of the transcript service (against a bare bidi server with the same group commit, and "
        "against one unary call per message), and of the analysis service (latency from a triggering message's ack to "
        "its Say Meter at a watcher), and of what TLS and tokens cost them; writes docs/benchmarks.md.")
    parser.add_argument("--only", choices=PARTS,
                        help="run one part only (default: all eight, in the order persona, transcript, analysis, "
                             "streams, security: GetPersona and StreamSession in plaintext and with TLS + tokens, "
                             "voice: call starts, cached and not, and with the voice provider failing at random; "
                             "guardrails: the transcript service with and without its default safety policy; "
                             "handoff: live calls handed to another persona by a switching rule)")
    parser.add_argument("--clients", type=int, default=50,
                        help="concurrent clients (default 50): persona callers; transcript gateway streams, and "
                             "callers of the one-call-per-message server")
    parser.add_argument("--channels", type=int, default=5,
                        help="channels (TCP connections) the clients share, per server (default 5, one per 10 "
                             "clients: on the 2-core machine 1 to 10 channels gave the same echo throughput "
                             "within noise and 50 a little less; see --sweep-channels)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of warm-up before each round of a scenario, discarded (default 1)")
    parser.add_argument("--duration", type=float, default=12.0,
                        help="measured seconds per scenario, over all its rounds (default 12)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="split each scenario's measured time into this many rounds, interleaved with the "
                             "other scenarios, so that a drift in the machine's load hits them all alike "
                             "(default 3; each round has its own warm-up)")
    parser.add_argument("--security-rounds", type=int, default=8,
                        help="security part: rounds of GetPersona and Echo in each mode, each as long as a round "
                             "above (default 8: the loss is a ratio of two throughputs that each vary by 5-10%% "
                             "from round to round on this machine, so it is measured over more rounds than a "
                             "throughput alone)")
    parser.add_argument("--open-duration", type=float, default=10.0,
                        help="measured seconds of each scenario in the open-loop phase, after its own warm-up "
                             f"(default 10; 0 skips the phase): a fixed rate, {OPEN_SHARE * 100:.0f}%% of the echo "
                             f"ceiling (of its own throughput for ListPersonas), "
                             "--stream-rate for the transcript streams; latency counted from each call's "
                             "scheduled time")
    parser.add_argument("--max-outstanding", type=int, default=4,
                        help="persona open loop: calls in flight per client at most; a call that finds its client "
                             "at the limit is sent late (default 4)")
    transcript = parser.add_argument_group("transcript")
    transcript.add_argument("--window", type=int, default=64,
                            help="utterances a gateway stream keeps unacked at most (default 64)")
    transcript.add_argument("--stream-rate", type=float, default=2000.0,
                            help="open loop: utterances per second offered over the --clients streams "
                                 "(default 2000)")
    transcript.add_argument("--sessions", type=int, default=1000,
                            help="live sessions (one stream each) held at once (default 1000)")
    transcript.add_argument("--session-channels", type=int, default=20,
                            help="channels the --sessions streams share (default 20)")
    transcript.add_argument("--session-interval", type=float, default=2.0,
                            help="seconds between two utterances of one live session (default 2)")
    transcript.add_argument("--hold", type=float, default=60.0,
                            help="seconds the live sessions are held, all measured (default 60)")
    transcript.add_argument("--unary-pool", type=int, default=transcript_run.transcript.UNARY_POOL_SIZE,
                            help="connections of the one-call-per-message server's asyncpg pool (default "
                                 f"{transcript_run.transcript.UNARY_POOL_SIZE})")
    analysis = parser.add_argument_group("analysis")
    analysis.add_argument("--analysis-sessions", type=int, default=1000,
                          help="live sessions, each with a gateway stream and a watcher (default 1000)")
    analysis.add_argument("--analysis-hold", type=float, default=60.0,
                          help="seconds the live sessions are held, all measured (default 60)")
    analysis.add_argument("--utterance-interval", type=float, default=2.0,
                          help="seconds between two utterances of one live session (default 2)")
    analysis.add_argument("--analysis-every", type=int, default=analysis_run.analysis.ANALYSIS_INTERVAL,
                          help="the sessions' analysis_interval: an analysis every N messages (default "
                               f"{analysis_run.analysis.ANALYSIS_INTERVAL})")
    analysis.add_argument("--analysis-channels", type=int, default=20,
                          help="channels the live sessions' streams share, per service (default 20)")
    analysis.add_argument("--analysis-drain", type=float, default=15.0,
                          help="seconds to wait after the window for the last analyses (default 15)")
    analysis.add_argument("--idle-analyses", type=int, default=200,
                          help="analyses measured one at a time on an otherwise idle system (default 200)")
    analysis.add_argument("--idle-pause", type=float, default=0.05,
                          help="seconds between two idle analyses (default 0.05)")
    burst = parser.add_argument_group("streams")
    bound = transcript_run.transcript.MAX_OPEN_STREAMS
    burst.add_argument("--streams-at-once", type=int, default=bound,
                       help="streams opened at the same moment on one transcript replica, which holds as many at "
                            f"most (its TRANSCRIPT_MAX_OPEN_STREAMS; default {bound}, the service's default)")
    burst.add_argument("--streams-beyond", type=int, default=500,
                       help="opens at once beyond that bound, while its streams are held: all must be refused "
                            "(default 500)")
    burst.add_argument("--streams-channels", type=int, default=10,
                       help="channels (TCP connections) the streams share (default 10)")
    handoffs = parser.add_argument_group("handoff")
    handoffs.add_argument("--handoffs", type=int, default=200,
                          help="sessions handed over by a switching rule, each once, measured (default 200)")
    handoffs.add_argument("--handoff-concurrency", type=int, default=10,
                          help="sessions in their call at once (default 10)")
    handoffs.add_argument("--handoff-gateways-in-process", action="store_true",
                          help="run the simulated gateways and watchers in the benchmark's own process, as before, "
                               "not in a process of their own (bench/handoff_gateways.py)")
    parser.add_argument("--diagnose", action="store_true",
                        help="also measure the echo server with each call wrapped as the services wrap theirs, "
                             "and GetPersona on variants of the persona service (see bench/variant.py); "
                             "figures printed, not written")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)} (Echo always runs: the ceiling)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print the figures only")
    parser.add_argument("--profile", action="store_true",
                        help="run the persona and transcript services and their ceilings under cProfile and print "
                             "where their time goes (figures are then slowed by the profiler and not written)")
    parser.add_argument("--sweep-channels", default="",
                        help="e.g. 1,2,5,10,25,50: measure Echo with each channel count and stop")
    args = parser.parse_args(argv)
    args.parts = [args.only] if args.only else list(PARTS)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    args.scenarios = ["Echo", *(s for s in SCENARIOS[1:] if s in args.scenarios)]  # the ceiling first
    if (args.clients < 1 or args.channels < 1 or args.rounds < 1 or args.max_outstanding < 1
            or args.duration <= 0 or args.warmup < 0 or args.open_duration < 0):
        parser.error("--clients, --channels, --rounds and --max-outstanding must be at least 1, --duration "
                     "positive, --warmup and --open-duration not negative")
    if "persona" in args.parts and args.clients % args.channels:
        parser.error("--clients must be a multiple of --channels (h2load keeps clients / channels calls in flight "
                     "on each connection)")
    if (args.window < 1 or args.sessions < 1 or args.session_channels < 1 or args.unary_pool < 1
            or args.stream_rate <= 0 or args.session_interval <= 0 or args.hold <= 0):
        parser.error("--window, --sessions, --session-channels and --unary-pool must be at least 1, "
                     "--stream-rate, --session-interval and --hold positive")
    if (args.analysis_sessions < 1 or args.analysis_channels < 1 or args.idle_analyses < 1
            or not 1 <= args.analysis_every <= 1000 or args.analysis_hold <= 0 or args.utterance_interval <= 0
            or args.analysis_drain < 0 or args.idle_pause < 0):
        parser.error("--analysis-sessions, --analysis-channels and --idle-analyses must be at least 1, "
                     "--analysis-every 1 to 1000, --analysis-hold and --utterance-interval positive, "
                     "--analysis-drain and --idle-pause not negative")
    if not 1 <= args.streams_at_once <= 20_000 or not 1 <= args.streams_beyond <= 5_000 or args.streams_channels < 1:
        parser.error("--streams-at-once must be 1 to 20000, --streams-beyond 1 to 5000 and --streams-channels at "
                     "least 1")
    if args.handoffs < 1 or args.handoff_concurrency < 1:
        parser.error("--handoffs and --handoff-concurrency must be at least 1")
    return args


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


# --- the run ----------------------------------------------------------------------------------------


async def _sweep(args: argparse.Namespace, echo_child: ChildProcess, echo_address: str) -> None:
    """Echo throughput for each channel count, in interleaved rounds (see --rounds)."""
    counts = [int(c) for c in args.sweep_channels.split(",") if c.strip()]
    probe = open_channels(echo_address, 1)
    await echo.wait_serving(echo_child, probe[0])
    await probe[0].close()
    channels = {count: open_channels(echo_address, count) for count in counts}
    parts: dict[int, list[Result]] = {count: [] for count in counts}
    make = echo.echo(3000)
    try:
        for _ in range(args.rounds):
            for count in counts:
                parts[count].append(await run_load(f"{count} channels", [make(c) for c in channels[count]],
                                                   args.clients, args.warmup, args.duration / args.rounds,
                                                   echo_child))
    finally:
        for group in channels.values():
            for channel in group:
                await channel.close()
    for count in counts:
        result = merge(parts[count])
        rounds = ", ".join(f"{p.rate:,.0f}" for p in parts[count])
        log(f"{count:3d} channels: {result.rate:7,.0f} calls/s (rounds: {rounds})  p50 {result.percentile(50):6.2f} ms"
            f"  p99 {result.percentile(99):6.2f} ms  server CPU {result.server_cpu:.0%}  "
            f"client CPU {result.client_cpu:.0%}")


@dataclass
class Server:
    """A server under load: its process, its address, the channels the clients share."""

    child: ChildProcess
    address: str
    ready: Callable[[ChildProcess, grpc.aio.Channel], Awaitable[None]]
    channels: list[grpc.aio.Channel] = field(default_factory=list)


def _open_rates(results: list[Result], scenarios: list[str]) -> dict[str, float]:
    """The rate each scenario is offered in the open-loop phase, from the closed-loop results."""
    by_name = {r.scenario: r for r in results}
    ceiling = by_name["Echo"].rate
    rates = {}
    for name in scenarios:
        if name == "ListPersonas":
            rates[name] = OPEN_SHARE * by_name[name].rate
        else:
            rates[name] = OPEN_SHARE * ceiling
    return {name: rate for name, rate in rates.items() if rate > 0}


@dataclass
class PersonaFigures:
    compiled: list[Result]  # saturation, h2load
    saturation: list[Result]  # saturation, the Python load generator
    open_results: list[OpenResult]  # fixed offered load, the Python load generator
    catalogue: persona.Catalogue


async def _measure_compiled(args: argparse.Namespace, servers: dict[str, Server],
                            catalogue: persona.Catalogue) -> list[Result]:
    """Saturation with h2load: the clients as calls in flight, spread over the channels as connections."""
    every = {"Echo": (echo.h2load_plan(catalogue.get_response_bytes), "echo")}
    for plan in await persona.h2load_plans(catalogue, servers["persona"].channels[0]):
        every[plan.scenario] = (plan, "persona")
    scenarios = {}
    for name in args.scenarios:
        plan, server_name = every[name]
        scenarios[name] = h2load.Scenario(plan, servers[server_name].address, servers[server_name].child)
    streams, per_round = args.clients // args.channels, args.duration / args.rounds
    log(f"saturation with h2load: {len(scenarios)} scenarios x {args.rounds} rounds, interleaved: {args.channels} "
        f"connections x {streams} calls in flight, {args.warmup:g}s warm-up + {per_round:g}s measured each")
    return await h2load.interleaved(scenarios, args.channels, streams, args.warmup, args.duration, args.rounds,
                                    DATA / "bench", log)


async def _measure(args: argparse.Namespace, servers: dict[str, Server],
                   plans: Callable[[persona.Catalogue], dict[str, tuple[Callable, str]]]) -> PersonaFigures:
    for server in servers.values():
        server.channels = open_channels(server.address, args.channels)
    try:
        started = time.monotonic()
        await asyncio.gather(*(t.ready(t.child, t.channels[0]) for t in servers.values()))
        log(f"{len(servers)} servers ready in {time.monotonic() - started:.1f}s; loading the catalogue through the API")
        catalogue = await persona.load_catalogue(servers["persona"].address)
        log(f"catalogue: {len(catalogue.persona_names)} personas, {len(catalogue.scenario_names)} scenarios; "
            f"a GetPersona response is {catalogue.get_response_bytes} bytes on average")
        compiled = await _measure_compiled(args, servers, catalogue)
        scenarios = plans(catalogue)
        parts: dict[str, list[Result]] = {name: [] for name in scenarios}
        per_round = args.duration / args.rounds
        log(f"saturation with the Python load generator: {len(scenarios)} scenarios x {args.rounds} rounds, "
            f"interleaved: {args.clients} clients on {args.channels} channels, "
            f"{args.warmup:g}s warm-up + {per_round:g}s measured each")
        for round_number in range(1, args.rounds + 1):
            for name, (make, server_name) in scenarios.items():
                server = servers[server_name]
                result = await run_load(name, [make(c) for c in server.channels], args.clients, args.warmup,
                                        per_round, server.child)
                log(f"  round {round_number} {name}: {result.rate:,.0f} calls/s"
                    + (f", errors {result.errors}" if result.errors else ""))
                parts[name].append(result)
        results = [merge(p) for p in parts.values()]

        open_results: list[OpenResult] = []
        if args.open_duration > 0:
            rates = _open_rates(results, [name for name in args.scenarios if name in scenarios])
            log(f"latency at a fixed offered load (open loop): {len(rates)} scenarios, {args.clients} clients, "
                f"at most {args.max_outstanding} calls in flight each, {args.warmup:g}s warm-up + "
                f"{args.open_duration:g}s measured each")
            for name, rate in rates.items():
                make, server_name = scenarios[name]
                server = servers[server_name]
                result = await run_open_load(name, [make(c) for c in server.channels], args.clients, rate,
                                             args.warmup, args.open_duration, server.child, args.max_outstanding)
                log(f"  {name}: offered {rate:,.0f}/s, achieved {result.rate:,.0f}/s, p50 {result.percentile(50):.1f}"
                    f" p99 {result.percentile(99):.1f} max {result.percentile(100):.1f} ms, late {result.late}, "
                    f"held {result.held}, not sent {result.unsent}, unanswered {result.unfinished}"
                    + (f", errors {result.errors}" if result.errors else ""))
                open_results.append(result)
        return PersonaFigures(compiled, results, open_results, catalogue)
    finally:
        for server in servers.values():
            for channel in server.channels:
                await channel.close()


def _plans(diagnose: bool, selected: list[str]):
    def plans(catalogue: persona.Catalogue) -> dict[str, tuple[Callable, str]]:
        every = {
            "Echo": (echo.echo(catalogue.get_response_bytes), "echo"),
            "GetPersona": (persona.get_persona(catalogue), "persona"),
            "ListPersonas": (persona.list_personas(catalogue), "persona"),
            "RenderPrompt": (persona.render_prompt(catalogue), "persona"),
            persona.MEMORY_SCENARIO: (persona.render_prompt_with_memory(catalogue), "persona"),
        }
        chosen = {name: every[name] for name in selected}
        if diagnose:
            chosen["Echo, wrapped as the services' calls"] = (echo.echo(catalogue.get_response_bytes), "echo+wrapping")
            for variant, label in DIAGNOSIS_VARIANTS.items():
                chosen[f"GetPersona, {label}"] = (persona.get_persona(catalogue), variant)
        return chosen

    return plans


def _targets(compiled: list[Result], clients: int) -> list[report.Target]:
    """The goal: GetPersona at TARGET_RATIO of the echo ceiling or more, with p99 under TARGET_P99_MS, both under
    ``clients`` concurrent calls (h2load: the server's own limits, not the load generator's)."""
    by_name = {r.scenario: r for r in compiled}
    echo_result, get = by_name.get("Echo"), by_name.get("GetPersona")
    if echo_result is None or get is None:
        return []
    ratio = get.rate / echo_result.rate if echo_result.rate else 0.0
    errors = f", {get.error_count} errors" if get.errors else ""
    under = f"{clients} concurrent calls, h2load"
    return [
        report.Target(f"GetPersona throughput at least {TARGET_RATIO:.0%} of the echo ceiling ({under})",
                      ratio >= TARGET_RATIO and not get.errors,
                      f"{ratio:.1%}: {get.rate:,.0f} vs {echo_result.rate:,.0f} calls/s{errors}"),
        report.Target(f"GetPersona p99 under {TARGET_P99_MS:g} ms at that throughput ({under})",
                      get.percentile(99) < TARGET_P99_MS and not get.errors,
                      f"p99 {get.percentile(99):.2f} ms, p50 {get.percentile(50):.2f} ms at {get.rate:,.0f} calls/s"
                      f"{errors}; echo: p99 {echo_result.percentile(99):.2f} ms at {echo_result.rate:,.0f} calls/s"),
        *_memory_target(by_name.get(persona.MEMORY_SCENARIO), under),
    ]


def _memory_target(remembered: Result | None, under: str) -> list[report.Target]:
    """RenderPrompt with a candidate's memory (working memory and facts, cached per scope) p99 under TARGET_P99_MS."""
    if remembered is None:
        return []
    errors = f", {remembered.error_count} errors" if remembered.errors else ""
    return [report.Target(f"{persona.MEMORY_SCENARIO} p99 under {TARGET_P99_MS:g} ms ({under})",
                          remembered.percentile(99) < TARGET_P99_MS and not remembered.errors,
                          f"p99 {remembered.percentile(99):.2f} ms, p50 {remembered.percentile(50):.2f} ms at "
                          f"{remembered.rate:,.0f} calls/s{errors}")]


def _print_profile(path: Path) -> None:
    if not path.exists():
        log(f"no profile at {path} (did the service stop cleanly?)")
        return
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(str(path), stream=out).strip_dirs().sort_stats(order).print_stats(45)
        print(f"\n===== {path.stem} profile (main thread CPU), by {order} ({path}) =====\n{out.getvalue()}")
    gc_report = Path(str(path) + ".gc.txt")
    if gc_report.exists():
        print(f"garbage collector in {path.stem}:\n{gc_report.read_text()}")


def _run_persona(args: argparse.Namespace, database_url: str, logs: Path,
                 profile: Callable[[str], Path | None]) -> None:
    with contextlib.ExitStack() as stack:  # unwinds in reverse: the children
        servers: dict[str, Server] = {}

        def add(name: str, started: tuple[ChildProcess, str], ready) -> None:
            stack.callback(started[0].stop)
            servers[name] = Server(started[0], started[1], ready)

        add("persona", persona.start_service(ROOT, database_url, logs, profile("persona")), persona.wait_serving)
        add("echo", echo.start_server(ROOT, logs, profile("echo")), echo.wait_serving)
        if args.diagnose:
            add("echo+wrapping", echo.start_server(ROOT, logs, wrapped=True), echo.wait_serving)
            for variant in DIAGNOSIS_VARIANTS:
                add(variant, persona.start_service(ROOT, database_url, logs, variant=tuple(variant.split())),
                    persona.wait_serving)

        figures = eventloop.run(_measure(args, servers, _plans(args.diagnose, args.scenarios)))
        for name, server in servers.items():
            code = server.child.stop()
            if code not in (0, None):
                log(f"{name} exited with code {code} on SIGTERM; log {server.child.log_path}:\n"
                    f"{server.child.log_tail()}")

    results, open_results, catalogue = figures.saturation, figures.open_results, figures.catalogue
    ceiling = results[0].rate
    targets = _targets(figures.compiled, args.clients)
    print(f"\nPersona service: saturation with h2load ({args.clients} calls in flight)\n")
    print(report.console_table(figures.compiled, figures.compiled[0].rate))
    print(f"\nPersona service: saturation with the Python load generator (closed loop, {args.clients} clients)\n")
    print(report.console_table(results, ceiling))
    if open_results:
        print(f"\nPersona service: latency at a fixed offered load (open loop, {args.clients} clients)\n")
        print(report.console_open_table(open_results))
    print()
    _print_targets(targets)
    if args.profile or args.diagnose:
        _print_threads(figures.compiled, "h2load")
        _print_threads(results, "the Python load generator")
    if args.profile:
        for name in ("persona", "echo"):
            _print_profile(profile(name))
    elif args.diagnose or args.no_write or len(args.scenarios) < len(SCENARIOS) or not open_results:
        log("persona figures not written (--diagnose, --no-write, --open-duration 0 or a subset of the scenarios)")
    else:
        method = {
            "clients": str(args.clients), "channels": str(args.channels), "warmup": f"{args.warmup:g}",
            "duration": f"{args.duration:g}", "rounds": str(args.rounds),
            "payload": str(catalogue.get_response_bytes),
            "catalogue": f"{len(catalogue.persona_names)} personas, {len(catalogue.scenario_names)} scenarios",
            "open_duration": f"{args.open_duration:g}", "max_outstanding": str(args.max_outstanding),
            "open_share": f"{OPEN_SHARE:.0%}",
            "h2load": h2load.version(),
        }
        report.write_section(args.output, report.persona_section(figures.compiled, results, open_results, targets,
                                                                 method))
        log(f"wrote the '{report.SECTION}' section of {args.output}")


def _run_transcript(args: argparse.Namespace, database_url: str, logs: Path,
                    profile: Callable[[str], Path | None]) -> None:
    figures = transcript_run.run(args, ROOT, database_url, logs, profile)
    print(f"\nTranscript service: throughput (saturation, {args.clients} streams or unary callers)\n")
    print(report.console_table(figures.saturation, figures.saturation[0].rate, unit="msgs/s", reference="ceiling",
                               cpu_split=True))
    print("\nTranscript service: ack latency at a fixed offered load (open loop)\n")
    print(report.console_open_table([*figures.open_results, figures.sessions], unit="msgs/s", cpu_split=True))
    print("\nTranscript service: group commits (servers' metrics, whole phases)\n")
    print(report.console_commit_table(figures.commits))
    print()
    _print_targets(figures.targets)
    if args.profile:
        _print_threads(figures.saturation)
        for name in ("transcript", "ceiling-stream"):
            _print_profile(profile(name))
    elif args.no_write or not figures.open_results:
        log("transcript figures not written (--no-write or --open-duration 0)")
    else:
        report.write_section(args.output, report.transcript_section(figures))
        log(f"wrote the '{report.TRANSCRIPT_SECTION}' section of {args.output}")


def _run_guardrails(args: argparse.Namespace, database_url: str, logs: Path,
                    profile: Callable[[str], Path | None]) -> None:
    figures = guardrails_run.run(args, ROOT, database_url, logs)
    for mix in figures.results:
        log(f"guardrails, {mix}: the default policy keeps {figures.ratio(mix):.1%} of the throughput with "
            "guardrails off")
    if args.no_write:
        log("guardrails figures not written (--no-write)")
    else:
        report.write_section(args.output, guardrails_run.section(figures, report.machine_block(None)))
        log(f"wrote the '{guardrails_run.SECTION}' section of {args.output}")


def _run_analysis(args: argparse.Namespace, database_url: str, logs: Path,
                  profile: Callable[[str], Path | None]) -> None:
    figures = analysis_run.run(args, ROOT, database_url, logs, profile)
    print()
    print(analysis_run.console(figures))
    print()
    _print_targets(figures.targets)
    log(f"analysis part: {figures.elapsed:.0f}s")
    if args.profile:
        for name in ("analysis", "transcript-analysis"):
            _print_profile(profile(name))
    elif args.no_write:
        log("analysis figures not written (--no-write)")
    else:
        report.write_section(args.output, analysis_run.section(figures))
        log(f"wrote the '{analysis_run.SECTION}' section of {args.output}")


def _run_handoff(args: argparse.Namespace, database_url: str, logs: Path,
                 profile: Callable[[str], Path | None]) -> None:
    figures = handoff.run(args, ROOT, database_url, logs)
    print()
    print(handoff.console(figures))
    print()
    _print_targets(figures.targets)
    if args.no_write:
        log("handoff figures not written (--no-write)")
    else:
        report.write_section(args.output, handoff.section(figures))
        log(f"wrote the '{handoff.SECTION}' section of {args.output}")


def _run_streams(args: argparse.Namespace, database_url: str, logs: Path,
                 profile: Callable[[str], Path | None]) -> None:
    personas, persona_address = persona.start_catalogue_service(ROOT, database_url, logs)
    try:
        started = transcript.start_service(ROOT, database_url, logs, persona_address, profile("transcript-streams"),
                                           max_open_streams=args.streams_at_once)
        try:
            figures = eventloop.run(_measure_streams(args, started, database_url))
        finally:
            code = started.child.stop()
    finally:
        personas.stop()
    if code not in (0, None):
        log(f"transcript service exited with code {code} on SIGTERM; log {started.child.log_path}:\n"
            f"{started.child.log_tail()}")
    print()
    print(streams.burst_console(figures))
    print()
    _print_targets(figures.targets())
    if args.profile:
        _print_profile(profile("transcript-streams"))
    elif args.no_write:
        log("streams figures not written (--no-write)")
    else:
        report.write_section(args.output, streams.burst_section(figures))
        log(f"wrote the '{streams.BURST_SECTION}' section of {args.output}")


def _run_security(args: argparse.Namespace, database_url: str, logs: Path,
                  profile: Callable[[str], Path | None]) -> None:
    figures = security_run.run(args, ROOT, database_url, logs)
    print()
    print(security_run.console(figures))
    print()
    _print_targets(figures.targets)
    if args.no_write or args.profile or not figures.open_results:
        log("security figures not written (--no-write, --profile or --open-duration 0)")
    else:
        report.write_section(args.output, security_run.section(figures))
        log(f"wrote the '{security_run.SECTION}' section of {args.output}")


def _run_voice(args: argparse.Namespace, database_url: str, logs: Path,
               profile: Callable[[str], Path | None]) -> None:
    figures = voice.run(ROOT, database_url, logs)
    print()
    print(voice.console(figures))
    print()
    _print_targets(figures.targets)
    if args.no_write:
        log("voice figures not written (--no-write)")
    else:
        report.write_section(args.output, voice.section(figures))
        log(f"wrote the '{voice.SECTION}' section of {args.output}")


async def _measure_streams(args: argparse.Namespace, started: transcript.Started,
                           database_url: str) -> streams.BurstFigures:
    channels = open_channels(started.address, args.streams_channels)
    try:
        await transcript.wait_service(started.child, channels[0])
        log(f"streams: {args.streams_at_once:,} opens at once on {args.streams_channels} channels, then "
            f"{args.streams_beyond:,} beyond the bound")
        return await streams.measure_burst(
            channels, started.child, transcript.TEXTS, args.streams_at_once, args.streams_beyond,
            lambda label, count: transcript.insert_sessions(database_url, label, count),
            lambda: transcript.metric_samples(started.metrics_port))
    finally:
        for channel in channels:
            await channel.close()


def _print_targets(targets: list[report.Target]) -> None:
    for target in targets:
        print(f"{'PASS' if target.passed else 'FAIL'}: {target.text} ({target.measured})")


def _print_threads(results: list[Result], load: str = "") -> None:
    print(f"\nserver threads (CPU per wall second){', ' + load if load else ''}:")
    for result in results:
        print(f"  {result.scenario}: " + ", ".join(f"{n} {s:.0%}" for n, s in result.server_threads[:6]))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C and SIGTERM both end in KeyboardInterrupt, which unwinds the ExitStacks (even when started in the
    # background, where SIGINT would otherwise be ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    logs = DATA / "bench"
    profile = (lambda name: logs / f"{name}.prof") if args.profile else (lambda name: None)
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:  # unwinds in reverse: database, PostgreSQL
            if args.sweep_channels:
                echo_child, echo_address = echo.start_server(ROOT, logs)
                stack.callback(echo_child.stop)
                eventloop.run(_sweep(args, echo_child, echo_address))
                return 0

            if {"persona", "security"} & set(args.parts) and not h2load.available():
                log(f"{h2load.INSTALL_HINT}; the persona and security parts need it")
                return 2
            log("starting the embedded PostgreSQL (.data/postgres-bench)")
            server_url = start_postgres(stack, DATA / "postgres-bench")
            parts = {"persona": _run_persona, "transcript": _run_transcript, "analysis": _run_analysis,
                     "streams": _run_streams, "security": _run_security, "voice": _run_voice,
                     "guardrails": _run_guardrails, "handoff": _run_handoff}
            for part in args.parts:
                with contextlib.ExitStack() as part_stack:  # the part's database, dropped when it ends
                    database_url = fresh_database(part_stack, server_url)
                    log(f"{part} service: fresh database created; starting the servers")
                    parts[part](args, database_url, logs, profile)
        log(f"done in {time.monotonic() - started:.0f}s")
        return 0
    except KeyboardInterrupt:
        log("interrupted; child processes, database and PostgreSQL stopped")
        return 130
