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

from bench.load import DRAIN, LATE_AFTER, OpenResult, Result

FILE_HEADER = """# Benchmarks

Written by `make bench` (`python -m bench`). Each service has its own `## ...` section, rewritten by
its benchmark on every run; the other sections are left as they are. Every figure is measured against a
bare `grpc.aio` unary echo server on the same machine in the same run: the ceiling that Python gRPC
itself allows. The ratio to it says more than calls/s, which depend on the machine and its load.
"""

SECTION = "## Persona service"


@dataclass(frozen=True)
class Target:
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


HEADERS = ["scenario", "calls/s", "p50 ms", "p99 ms", "vs echo", "errors", "server CPU", "server CPU µs/call",
           "client CPU", "machine busy"]
OPEN_HEADERS = ["scenario", "offered calls/s", "achieved calls/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "late",
                "held", "given up", "errors", "server CPU", "client CPU", "machine busy"]


def rows(results: list[Result], ceiling: float) -> list[list[str]]:
    return [[
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
    ] for r in results]


def open_rows(results: list[OpenResult]) -> list[list[str]]:
    return [[
        r.scenario,
        f"{r.offered:,.0f}",
        f"{r.rate:,.0f}",
        *(_ms(r.percentile(q)) for q in (50, 90, 99, 100)),
        f"{r.late:,}",
        f"{r.held:,}",
        f"{r.unsent + r.unfinished:,}",
        str(r.error_count),
        _pct(r.server_cpu),
        _pct(r.client_cpu),
        _pct(r.machine_busy),
    ] for r in results]


def _console(headers: list[str], body: list[list[str]]) -> str:
    table = [headers, *body]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(table):
        lines.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths, strict=True))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _markdown(headers: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["--:"] * (len(headers) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def console_table(results: list[Result], ceiling: float) -> str:
    return _console(HEADERS, rows(results, ceiling))


def console_open_table(results: list[OpenResult]) -> str:
    return _console(OPEN_HEADERS, open_rows(results))


def markdown_table(results: list[Result], ceiling: float) -> str:
    body = [[*row[:2], " / ".join(f"{rate:,.0f}" for rate in result.round_rates) or "-", *row[2:]]
            for result, row in zip(results, rows(results, ceiling), strict=True)]
    return _markdown([*HEADERS[:2], "calls/s by round", *HEADERS[2:]], body)


def markdown_open_table(results: list[OpenResult]) -> str:
    return _markdown(OPEN_HEADERS, open_rows(results))


def round_ratios(result: Result, ceiling: Result) -> str:
    """The ratio to the ceiling round by round (each scenario round runs right after the echo round)."""
    pairs = zip(result.round_rates, ceiling.round_rates, strict=False)
    return ", ".join(f"{mine / echo:.0%}" for mine, echo in pairs if echo)


def _offered(open_results: list[OpenResult], method: dict[str, str]) -> str:
    by_name = {r.scenario: r for r in open_results}
    at_ratio = [name for name in ("Echo", "GetPersona", "RenderPrompt") if name in by_name]
    parts = []
    if at_ratio:
        parts.append(f"{by_name[at_ratio[0]].offered:,.0f} calls/s ({method['open_ratio']} of the echo ceiling "
                     f"above) to {', '.join(at_ratio)};\n")
    if "ListPersonas" in by_name:
        parts.append(f"{by_name['ListPersonas'].offered:,.0f} calls/s ({method['list_share']} of its own "
                     "saturation throughput) to ListPersonas")
    return "".join(parts).rstrip(";\n")


def persona_section(results: list[Result], open_results: list[OpenResult], ceiling: float, targets: list[Target],
                    method: dict[str, str], when: datetime | None = None) -> str:
    info = machine()
    when = when or datetime.now(UTC)
    target_lines = [f"- **{'PASS' if t.passed else 'FAIL'}**: {t.text} (measured: {t.measured})" for t in targets]
    clients = int(method["clients"])
    echo_mean = clients / ceiling * 1000 if ceiling else float("nan")
    by_name = {r.scenario: r for r in results}
    spread = ""
    if "Echo" in by_name and "GetPersona" in by_name and len(by_name["Echo"].round_rates) > 1:
        spread = (f"\nGetPersona against echo round by round: {round_ratios(by_name['GetPersona'], by_name['Echo'])}. "
                  "The spread is the machine's\nnoise (other processes share its cores): read a target met or missed "
                  "by a few points as within it.\n")
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
- Clients: {method['clients']} concurrent clients (asyncio tasks) on {method['channels']} channels (one TCP
  connection each) per server.
- Saturation (closed loop), for throughput: each client calls back to back. Each scenario is measured
  for {method['duration']} s in all, in {method['rounds']} rounds interleaved with the other scenarios (so that a change
  in the machine's load hits them all alike), each round after {method['warmup']} s of discarded warm-up.
  calls/s counts the calls started in the measured windows.
- Latency at a fixed offered load (open loop), after the saturation rounds: each scenario in turn
  is offered a fixed rate for {method['open_duration']} s, after {method['warmup']} s of warm-up at that rate. The rate
  is spread evenly over the clients, each with its calls scheduled at fixed intervals: a call is sent at
  its scheduled time, or as soon as possible after it, and its latency counts from the scheduled
  time, so a wait to be sent is part of it. A client has at most {method['max_outstanding']} calls in flight; a call
  that finds it at that limit waits for one to end (**held**). **late**: sent more than {LATE_AFTER * 1000:g} ms
  after its scheduled time (held ones included). **given up**: not sent, or not answered, {DRAIN:g} s
  after the window ends (counted in the percentiles with the time waited by then). The rates are
  {method['open_ratio']} of the echo ceiling of the same run for Echo, GetPersona and RenderPrompt, and
  {method['list_share']} of its own saturation throughput for ListPersonas.
- Catalogue: the sample catalogue ({method['catalogue']}), created through the API first.
- Scenarios: **Echo** with a {method['payload']}-byte payload each way (the mean size of a GetPersona
  response); **GetPersona** of a random persona; **ListPersonas**, page_size 20, half of the calls
  filtered by a blueprint; **RenderPrompt** of a random persona with a random scenario (no learning
  service in this run, so no patches).
- CPU columns, over the measured windows: the server process's CPU time per wall second (100% = one
  core, all its threads), the same per call, the load generator's, and the share of all cores busy
  (PostgreSQL and anything else running included).

### Saturation (closed loop, {clients} clients)

{markdown_table(results, ceiling)}
{spread}
Latencies in this table are those of a saturated server: with {clients} clients calling back to back, the
mean latency is {clients} / calls/s (Little's law), {echo_mean:.1f} ms even at the echo ceiling. The open-loop
table below gives the latency at a load the server is meant to carry.

### Latency at a fixed offered load (open loop, {clients} clients)

Offered: {_offered(open_results, method)}.

{markdown_open_table(open_results)}

Near a server's capacity the tail grows steeply, and on this machine the load generator takes most of a
core too: compare a scenario's p99 with Echo's at the same load. Held calls, or an achieved rate below
the offered one, mean that the scenario was at or past its capacity at that rate.

`python -m bench --diagnose` (variants of the service, each with one cost removed) and `--profile`
(cProfile on the servers' CPU time, and the CPU of each thread) show where the time goes.

### Targets

{chr(10).join(target_lines)}
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
