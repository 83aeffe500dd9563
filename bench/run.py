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
from pathlib import Path

import asyncpg

from bench import echo, persona, report
from bench.children import ChildProcess
from bench.load import Result, open_channels, run_load
from svckit.embedded_pg import EmbeddedPostgres

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
SCENARIOS = ("Echo", "GetPersona", "ListPersonas", "RenderPrompt")
GOAL_RATIO, GOAL_P99_MS = 0.70, 20.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark of the persona service "
                                     "against a bare grpc.aio echo server; writes docs/benchmarks.md.")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--channels", type=int, default=5,
                        help="channels (TCP connections) the clients share, per server (default 5: "
                             "one per 10 clients, the best echo throughput here; see --sweep-channels)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per scenario, discarded")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per scenario")
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
    if "Echo" not in args.scenarios:
        args.scenarios.insert(0, "Echo")
    if args.clients < 1 or args.channels < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--clients and --channels must be at least 1, --duration positive, --warmup not negative")
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
    counts = [int(c) for c in args.sweep_channels.split(",") if c.strip()]
    probe = open_channels(echo_address, 1)
    await echo.wait_serving(echo_child, probe[0])
    await probe[0].close()
    for count in counts:
        channels = open_channels(echo_address, count)
        make = echo.echo(3000)
        result = await run_load(f"Echo, {count} channels", [make(c) for c in channels], args.clients,
                                args.warmup, args.duration, echo_child)
        for channel in channels:
            await channel.close()
        log(f"{count:3d} channels: {result.rate:7,.0f} calls/s  p50 {result.percentile(50):6.2f} ms  "
            f"p99 {result.percentile(99):6.2f} ms  server CPU {result.server_cpu:.0%}  "
            f"client CPU {result.client_cpu:.0%}")


async def _measure(args: argparse.Namespace, persona_child: ChildProcess, persona_address: str,
                   echo_child: ChildProcess, echo_address: str) -> tuple[list[Result], persona.Catalogue]:
    persona_channels = open_channels(persona_address, args.channels)
    echo_channels = open_channels(echo_address, args.channels)
    try:
        started = time.monotonic()
        await asyncio.gather(persona.wait_serving(persona_child, persona_channels[0]),
                             echo.wait_serving(echo_child, echo_channels[0]))
        log(f"both servers ready in {time.monotonic() - started:.1f}s; loading the catalogue through the API")
        catalogue = await persona.load_catalogue(persona_channels[0])
        log(f"catalogue: {len(catalogue.persona_names)} personas, {len(catalogue.scenario_names)} scenarios; "
            f"a GetPersona response is {catalogue.get_response_bytes} bytes on average")
        plans = {
            "Echo": (echo.echo(catalogue.get_response_bytes), echo_channels, echo_child),
            "GetPersona": (persona.get_persona(catalogue), persona_channels, persona_child),
            "ListPersonas": (persona.list_personas(catalogue), persona_channels, persona_child),
            "RenderPrompt": (persona.render_prompt(catalogue), persona_channels, persona_child),
        }
        results = []
        for name in args.scenarios:
            make, channels, server = plans[name]
            log(f"{name}: {args.clients} clients, {len(channels)} channels, "
                f"{args.warmup:g}s warm-up + {args.duration:g}s measured")
            result = await run_load(name, [make(c) for c in channels], args.clients, args.warmup, args.duration,
                                    server)
            if result.errors:
                log(f"{name}: errors {result.errors}")
            results.append(result)
        return results, catalogue
    finally:
        for channel in (*persona_channels, *echo_channels):
            await channel.close()


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
        print(f"\n===== persona service profile, by {order} ({path}) =====\n{out.getvalue()}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up like Ctrl-C
    logs = DATA / "bench"
    profile_path = logs / "persona.prof" if args.profile else None
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
            log(f"fresh database {db_name}; starting the persona service and the echo server")

            persona_child, persona_address = persona.start_service(ROOT, database_url, logs, profile_path)
            stack.callback(persona_child.stop)
            echo_child, echo_address = echo.start_server(ROOT, logs)
            stack.callback(echo_child.stop)

            results, catalogue = asyncio.run(_measure(args, persona_child, persona_address, echo_child,
                                                      echo_address))
            code = persona_child.stop()
            if code not in (0, None):
                log(f"the persona service exited with code {code} on SIGTERM; log {persona_child.log_path}:\n"
                    f"{persona_child.log_tail()}")

        ceiling = results[0].rate
        goals = _goals(results)
        print()
        print(report.console_table(results, ceiling))
        for goal in goals:
            print(f"{'PASS' if goal.passed else 'FAIL'}: {goal.text} ({goal.measured})")
        if profile_path is not None:
            _print_profile(profile_path)
        elif not args.no_write:
            method = {
                "clients": str(args.clients), "channels": str(args.channels), "warmup": f"{args.warmup:g}",
                "duration": f"{args.duration:g}", "payload": str(catalogue.get_response_bytes),
                "database": "a fresh database, dropped after the run",
                "catalogue": f"{len(catalogue.persona_names)} personas, {len(catalogue.scenario_names)} scenarios",
            }
            report.write_section(args.output, report.persona_section(results, ceiling, goals, method))
            log(f"wrote the '{report.SECTION}' section of {args.output}")
        return 0
    except KeyboardInterrupt:
        log("interrupted; child processes, database and PostgreSQL stopped")
        return 130
