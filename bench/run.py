"""Orchestration of one benchmark run: database, processes, load, report, and a clean stop whatever happens."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import pstats
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc

from bench import echo, persona, report
from bench.children import ChildProcess
from bench.load import Result, merge, open_channels, run_load
from svckit.embedded_pg import EmbeddedPostgres

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
SCENARIOS = ("Echo", "GetPersona", "ListPersonas", "RenderPrompt")
GOAL_RATIO, GOAL_P99_MS = 0.70, 20.0
DIAGNOSIS_VARIANTS = {  # bench.variant flags -> label
    "--generic-handlers-only": "generic handlers only",
    "--no-interceptors": "no interceptors",
    "--generic-handlers-only --no-interceptors": "generic handlers, no interceptors",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark of the persona service "
                                     "against a bare grpc.aio echo server; writes docs/benchmarks.md.")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
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
    parser.add_argument("--diagnose", action="store_true",
                        help="also measure the echo server with the svckit interceptors and GetPersona on "
                             "variants of the persona service (see bench/variant.py); "
                             "figures printed, not written")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)} (Echo always runs: the ceiling)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print the figures only")
    parser.add_argument("--profile", action="store_true",
                        help="run the persona service under cProfile and print where its time goes "
                             "(figures are then slowed by the profiler and not written)")
    parser.add_argument("--sweep-channels", default="",
                        help="e.g. 1,2,5,10,25,50: measure Echo with each channel count and stop")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    args.scenarios = ["Echo", *(s for s in SCENARIOS[1:] if s in args.scenarios)]  # the ceiling first
    if args.clients < 1 or args.channels < 1 or args.rounds < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--clients, --channels and --rounds must be at least 1, --duration positive, "
                     "--warmup not negative")
    return args


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


# --- database ---------------------------------------------------------------------------------------


def _with_database(url: str, database: str) -> str:
    head, _, query = url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")


async def _admin(server_url: str, *statements: str, ignore_errors: bool = False) -> None:
    connection = await asyncpg.connect(server_url, timeout=10)
    try:
        for sql in statements:
            try:
                await connection.execute(sql)
            except asyncpg.PostgresError:
                if not ignore_errors:
                    raise
    finally:
        await connection.close()


async def _stale_databases(server_url: str) -> list[str]:
    """Databases of earlier runs that were killed before dropping theirs, and that nobody uses."""
    connection = await asyncpg.connect(server_url, timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT datname FROM pg_database d WHERE datname LIKE 'sparring_bench_%' "
            "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)")
    finally:
        await connection.close()
    return [row["datname"] for row in rows]


def create_database(server_url: str) -> tuple[str, str]:
    stale = asyncio.run(_stale_databases(server_url))
    if stale:
        asyncio.run(_admin(server_url, *(f'DROP DATABASE IF EXISTS "{n}"' for n in stale), ignore_errors=True))
    name = f"sparring_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    return name, _with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    try:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception as error:
        log(f"could not drop database {name}: {error}")


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
class Target:
    """A server under load: its process, its address, the channels the clients share."""

    child: ChildProcess
    address: str
    ready: Callable[[ChildProcess, grpc.aio.Channel], Awaitable[None]]
    channels: list[grpc.aio.Channel] = field(default_factory=list)


async def _measure(args: argparse.Namespace, targets: dict[str, Target],
                   plans: Callable[[persona.Catalogue], dict[str, tuple[Callable, str]]]
                   ) -> tuple[list[Result], persona.Catalogue]:
    for target in targets.values():
        target.channels = open_channels(target.address, args.channels)
    try:
        started = time.monotonic()
        await asyncio.gather(*(t.ready(t.child, t.channels[0]) for t in targets.values()))
        log(f"{len(targets)} servers ready in {time.monotonic() - started:.1f}s; loading the catalogue through the API")
        catalogue = await persona.load_catalogue(targets["persona"].channels[0])
        log(f"catalogue: {len(catalogue.persona_names)} personas, {len(catalogue.scenario_names)} scenarios; "
            f"a GetPersona response is {catalogue.get_response_bytes} bytes on average")
        scenarios = plans(catalogue)
        parts: dict[str, list[Result]] = {name: [] for name in scenarios}
        per_round = args.duration / args.rounds
        log(f"{len(scenarios)} scenarios x {args.rounds} rounds, interleaved: {args.clients} clients on "
            f"{args.channels} channels, {args.warmup:g}s warm-up + {per_round:g}s measured each")
        for round_number in range(1, args.rounds + 1):
            for name, (make, target_name) in scenarios.items():
                target = targets[target_name]
                result = await run_load(name, [make(c) for c in target.channels], args.clients, args.warmup,
                                        per_round, target.child)
                log(f"  round {round_number} {name}: {result.rate:,.0f} calls/s, p99 {result.percentile(99):.1f} ms"
                    + (f", errors {result.errors}" if result.errors else ""))
                parts[name].append(result)
        return [merge(p) for p in parts.values()], catalogue
    finally:
        for target in targets.values():
            for channel in target.channels:
                await channel.close()


def _plans(diagnose: bool, selected: list[str]):
    def plans(catalogue: persona.Catalogue) -> dict[str, tuple[Callable, str]]:
        every = {
            "Echo": (echo.echo(catalogue.get_response_bytes), "echo"),
            "GetPersona": (persona.get_persona(catalogue), "persona"),
            "ListPersonas": (persona.list_personas(catalogue), "persona"),
            "RenderPrompt": (persona.render_prompt(catalogue), "persona"),
        }
        chosen = {name: every[name] for name in selected}
        if diagnose:
            chosen["Echo + svckit interceptors"] = (echo.echo(catalogue.get_response_bytes), "echo+interceptors")
            for variant, label in DIAGNOSIS_VARIANTS.items():
                chosen[f"GetPersona, {label}"] = (persona.get_persona(catalogue), variant)
        return chosen

    return plans


def _goals(results: list[Result]) -> list[report.Goal]:
    by_name = {r.scenario: r for r in results}
    echo_result, get = by_name.get("Echo"), by_name.get("GetPersona")
    if echo_result is None or get is None:
        return []
    ratio = get.rate / echo_result.rate if echo_result.rate else 0.0
    p99 = get.percentile(99)
    return [
        report.Goal(f"GetPersona at {GOAL_RATIO:.0%} of the echo ceiling or more", ratio >= GOAL_RATIO and
                    not get.errors, f"{ratio:.0%}: {get.rate:,.0f} vs {echo_result.rate:,.0f} calls/s"
                    + (f", {get.error_count} errors" if get.errors else "")),
        report.Goal(f"GetPersona p99 under {GOAL_P99_MS:g} ms", p99 < GOAL_P99_MS, f"{p99:.2f} ms"),
    ]


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C and SIGTERM both end in KeyboardInterrupt, which unwinds the ExitStack below (even when
    # started in the background, where SIGINT would otherwise be ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    logs = DATA / "bench"
    profile = (lambda name: logs / f"{name}.prof") if args.profile else (lambda name: None)
    try:
        with contextlib.ExitStack() as stack:  # unwinds in reverse: children, database, PostgreSQL
            if args.sweep_channels:
                echo_child, echo_address = echo.start_server(ROOT, logs)
                stack.callback(echo_child.stop)
                asyncio.run(_sweep(args, echo_child, echo_address))
                return 0

            log("starting the embedded PostgreSQL (.data/postgres-bench)")
            postgres = EmbeddedPostgres(DATA / "postgres-bench")
            stack.callback(postgres.stop)
            server_url = postgres.start()
            db_name, database_url = create_database(server_url)
            stack.callback(drop_database, server_url, db_name)
            log(f"fresh database {db_name}; starting the servers")

            targets: dict[str, Target] = {}

            def add(name: str, started: tuple[ChildProcess, str], ready) -> None:
                stack.callback(started[0].stop)
                targets[name] = Target(started[0], started[1], ready)

            add("persona", persona.start_service(ROOT, database_url, logs, profile("persona")), persona.wait_serving)
            add("echo", echo.start_server(ROOT, logs, profile("echo")), echo.wait_serving)
            if args.diagnose:
                add("echo+interceptors", echo.start_server(ROOT, logs, interceptors=True), echo.wait_serving)
                for variant in DIAGNOSIS_VARIANTS:
                    add(variant, persona.start_service(ROOT, database_url, logs, variant=tuple(variant.split())),
                        persona.wait_serving)

            results, catalogue = asyncio.run(_measure(args, targets, _plans(args.diagnose, args.scenarios)))
            for name, target in targets.items():
                code = target.child.stop()
                if code not in (0, None):
                    log(f"{name} exited with code {code} on SIGTERM; log {target.child.log_path}:\n"
                        f"{target.child.log_tail()}")

        ceiling = results[0].rate
        goals = _goals(results)
        print()
        print(report.console_table(results, ceiling))
        for goal in goals:
            print(f"{'PASS' if goal.passed else 'FAIL'}: {goal.text} ({goal.measured})")
        if args.profile or args.diagnose:
            print("\nserver threads (CPU per wall second):")
            for result in results:
                print(f"  {result.scenario}: " + ", ".join(f"{n} {s:.0%}" for n, s in result.server_threads[:6]))
        if args.profile:
            for name in ("persona", "echo"):
                _print_profile(profile(name))
        elif args.diagnose or args.no_write or len(args.scenarios) < len(SCENARIOS):
            log("figures not written (--diagnose, --no-write or a subset of the scenarios)")
        else:
            method = {
                "clients": str(args.clients), "channels": str(args.channels), "warmup": f"{args.warmup:g}",
                "duration": f"{args.duration:g}", "rounds": str(args.rounds),
                "payload": str(catalogue.get_response_bytes),
                "catalogue": f"{len(catalogue.persona_names)} personas, {len(catalogue.scenario_names)} scenarios",
            }
            report.write_section(args.output, report.persona_section(results, ceiling, goals, method))
            log(f"wrote the '{report.SECTION}' section of {args.output}")
        return 0
    except KeyboardInterrupt:
        log("interrupted; child processes, database and PostgreSQL stopped")
        return 130
