"""Figures to text: the console table and the service's section of docs/benchmarks.md."""

from __future__ import annotations

import math
import os
import platform
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
from google import protobuf

from bench.load import Result

FILE_HEADER = """# Benchmarks

Written by `make bench` (`python -m bench`). Each service has its own `## ...` section, rewritten by
its benchmark on every run; the other sections are left as they are. Every figure is measured against a
bare `grpc.aio` unary echo server on the same machine in the same run: the ceiling that Python gRPC
itself allows. The ratio to it says more than calls/s, which depend on the machine and its load.
"""

SECTION = "## Persona service"


@dataclass(frozen=True)
class Goal:
    text: str
    passed: bool
    measured: str


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "protobuf": f"{protobuf.__version__} ({_protobuf_backend()})",
    }


def _protobuf_backend() -> str:
    from google.protobuf.internal import api_implementation

    return api_implementation.Type()


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value * 100:.0f}%"


def rows(results: list[Result], ceiling: float) -> list[list[str]]:
    out = []
    for r in results:
        out.append([
            r.scenario,
            f"{r.rate:,.0f}",
            _ms(r.percentile(50)),
            _ms(r.percentile(99)),
            f"{r.rate / ceiling * 100:.0f}%" if ceiling else "n/a",
            str(r.error_count),
            _pct(r.server_cpu),
            "n/a" if math.isnan(r.server_cpu_per_call_us) else f"{r.server_cpu_per_call_us:.0f}",
            _pct(r.client_cpu),
            _pct(r.machine_busy),
        ])
    return out


HEADERS = ["scenario", "calls/s", "p50 ms", "p99 ms", "vs echo", "errors", "server CPU", "server CPU µs/call",
           "client CPU", "machine busy"]


def console_table(results: list[Result], ceiling: float) -> str:
    table = [HEADERS, *rows(results, ceiling)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADERS))]
    lines = []
    for n, row in enumerate(table):
        lines.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths, strict=True))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(results: list[Result], ceiling: float) -> str:
    headers = [*HEADERS[:2], "calls/s by round", *HEADERS[2:]]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["--:"] * (len(headers) - 1)) + "|"]
    for result, row in zip(results, rows(results, ceiling), strict=True):
        by_round = " / ".join(f"{rate:,.0f}" for rate in result.round_rates) or "-"
        lines.append("| " + " | ".join([*row[:2], by_round, *row[2:]]) + " |")
    return "\n".join(lines)


def round_ratios(result: Result, ceiling: Result) -> str:
    """The ratio to the ceiling round by round (each scenario round runs right after the echo round)."""
    pairs = zip(result.round_rates, ceiling.round_rates, strict=False)
    return ", ".join(f"{mine / echo:.0%}" for mine, echo in pairs if echo)


def persona_section(results: list[Result], ceiling: float, goals: list[Goal], method: dict[str, str],
                    when: datetime | None = None) -> str:
    info = machine()
    when = when or datetime.now(UTC)
    goal_lines = [f"- **{'PASS' if g.passed else 'FAIL'}**: {g.text} (measured: {g.measured})" for g in goals]
    clients = int(method["clients"])
    echo_mean = clients / ceiling * 1000 if ceiling else float("nan")
    by_name = {r.scenario: r for r in results}
    spread = ""
    if "Echo" in by_name and "GetPersona" in by_name and len(by_name["Echo"].round_rates) > 1:
        spread = (f"\nGetPersona against echo round by round: {round_ratios(by_name['GetPersona'], by_name['Echo'])}. "
                  "The spread is the machine's\nnoise (other processes share its cores): read a goal met or missed "
                  "by a few points as within it.\n")
    echo_p99 = by_name["Echo"].percentile(99) if "Echo" in by_name else float("nan")
    return f"""{SECTION}

Run on {when.strftime('%Y-%m-%d %H:%M UTC')}.

### Machine

- {info['cores']} cores, {info['cpu']}, {info['os']}
- Python {info['python']}, grpcio {info['grpcio']}, protobuf {info['protobuf']}

### Method

- Processes, all on this machine and sharing its cores, talking over TCP on 127.0.0.1: the persona
  service (`python -m persona_svc`, with its interceptors, metrics and caches as in production,
  `LOG_LEVEL=WARNING`) on an embedded PostgreSQL of its own (`.data/postgres-bench`, a fresh
  database per run, dropped after it); a bare `grpc.aio` echo server (a generic handler returning
  the request bytes, no interceptors) as the ceiling; the load generator.
- Load: {method['clients']} concurrent clients (asyncio tasks) on {method['channels']} channels (one TCP connection
  each) per server, each calling back to back (closed loop). Each scenario is measured for
  {method['duration']} s in all, in {method['rounds']} rounds interleaved with the other scenarios (so that a change in
  the machine's load hits them all alike), each round after {method['warmup']} s of discarded warm-up.
  calls/s counts the calls started in the measured windows; p50 and p99 are their latencies as the
  clients saw them.
- Catalogue: the sample catalogue ({method['catalogue']}), created through the API first.
- Scenarios: **Echo** with a {method['payload']}-byte payload each way (the mean size of a GetPersona
  response); **GetPersona** of a random persona; **ListPersonas**, page_size 20, half of the calls
  filtered by a blueprint; **RenderPrompt** of a random persona with a random scenario (no learning
  service in this run, so no patches).
- CPU columns, over the measured windows: the server process's CPU time per wall second (100% = one
  core, all its threads), the same per call, the load generator's, and the share of all cores busy
  (PostgreSQL and anything else running included).

### Results

{markdown_table(results, ceiling)}
{spread}
With {clients} clients calling back to back, latency follows throughput (Little's law): the mean latency
is {clients} / calls/s, {echo_mean:.1f} ms at the echo ceiling, whose own p99 is {_ms(echo_p99)} ms. A p99 under 20 ms
at this concurrency asks for close to the ceiling's throughput, well beyond the 70% goal.

`python -m bench --diagnose` (variants of the service, each with one cost removed) and `--profile`
(cProfile on the servers' CPU time, and the CPU of each thread) show where the time goes.

### Goals (issue 2)

{chr(10).join(goal_lines)}
"""


def write_section(path: Path, section: str) -> None:
    """Replaces this service's ``## `` section (up to the next ``## `` heading) or appends it."""
    text = path.read_text() if path.exists() else FILE_HEADER
    if not text.strip():
        text = FILE_HEADER
    heading = section.splitlines()[0].strip()
    pattern = re.compile(rf"^{re.escape(heading)}[ \t]*\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    body = section.rstrip("\n") + "\n"
    if pattern.search(text):
        text = pattern.sub(lambda _m: body + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + body
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
