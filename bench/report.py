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
itself allows, so the ratio to it is comparable across machines while calls/s are not.
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
            _pct(r.client_cpu),
            _pct(r.machine_busy),
        ])
    return out


HEADERS = ["scenario", "calls/s", "p50 ms", "p99 ms", "vs echo", "errors", "server CPU", "client CPU", "machine busy"]


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
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join(["---"] + ["--:"] * (len(HEADERS) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results, ceiling)]
    return "\n".join(lines)


def persona_section(results: list[Result], ceiling: float, goals: list[Goal], method: dict[str, str],
                    when: datetime | None = None) -> str:
    info = machine()
    when = when or datetime.now(UTC)
    goal_lines = [f"- **{'PASS' if g.passed else 'FAIL'}**: {g.text} (measured: {g.measured})" for g in goals]
    return f"""{SECTION}

Run on {when.strftime('%Y-%m-%d %H:%M UTC')}.

### Machine

- {info['cores']} cores, {info['cpu']}, {info['os']}
- Python {info['python']}, grpcio {info['grpcio']}, protobuf {info['protobuf']}

### Method

- Processes: the persona service (`python -m persona_svc`, its interceptors, metrics and caches as in
  production, `LOG_LEVEL=WARNING`) on its own embedded PostgreSQL ({method['database']}); a bare
  `grpc.aio` echo server (generic handler returning the request bytes, no interceptors) as the ceiling;
  the load generator in a third process. All on this machine, over TCP on 127.0.0.1, sharing its cores.
- Load: {method['clients']} concurrent clients (asyncio tasks) on {method['channels']} channels (one TCP
  connection each), each calling back to back (closed loop). Per scenario: {method['warmup']} s warm-up,
  discarded, then {method['duration']} s measured; calls/s counts the calls started in the measured window,
  p50/p99 are their latencies as the client saw them.
- Catalogue: the sample catalogue ({method['catalogue']}), created through the API before the run.
- Scenarios: **Echo** with a {method['payload']}-byte payload each way (the mean size of a GetPersona
  response); **GetPersona** of a random persona; **ListPersonas** with page_size 20, half of the calls
  filtered by a blueprint; **RenderPrompt** of a random persona with a random scenario (no learning
  service: no patches).
- CPU columns: CPU time of the server process and of the load generator per wall second (100% = one
  core), and the share of all cores busy (PostgreSQL included), over the measured window.

### Results

{markdown_table(results, ceiling)}

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
