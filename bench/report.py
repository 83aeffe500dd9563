"""Figures to text: the console table and the service's section of docs/benchmarks.md."""

from __future__ import annotations

import math
import os
import platform
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import uvloop
from google import protobuf

from bench.load import DRAIN, LATE_AFTER, OpenResult, Result

if TYPE_CHECKING:
    from bench.transcript import CommitStats
    from bench.transcript_run import Figures as TranscriptFigures

FILE_HEADER = """# Benchmarks

Written by `make bench` (`python -m bench`). Each service has its own `## ...` section, rewritten by
its benchmark on every run; the other sections are left as they are. Every figure is measured against a
bare `grpc.aio` server doing the least the same work needs, on the same machine in the same run: the
ceiling that Python gRPC itself allows. The ratio to it says more than calls/s, which depend on the
machine and its load.
"""

SECTION = "## Persona service"
TRANSCRIPT_SECTION = "## Transcript service"
SECURITY_SECTION = "## Security cost"


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
        "uvloop": uvloop.__version__,
        "protobuf": f"{protobuf.__version__} ({_protobuf_backend()})",
    }


def _protobuf_backend() -> str:
    from google.protobuf.internal import api_implementation

    return api_implementation.Type()


def fmt_ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def fmt_pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value * 100:.0f}%"


CPU_SPLIT = ["PostgreSQL CPU", "other CPU"]


def headers(unit: str = "calls/s", reference: str = "echo", cpu_split: bool = False) -> list[str]:
    """``cpu_split``: with the CPU of the benchmark's PostgreSQL and of everything else on the machine."""
    per = unit.split("/")[0].rstrip("s")  # "call", "msg"
    return ["scenario", unit, "p50 ms", "p99 ms", f"vs {reference}", "errors", "server CPU",
            f"server CPU µs/{per}", "client CPU", *(CPU_SPLIT if cpu_split else []), "machine busy"]


def open_headers(unit: str = "calls/s", cpu_split: bool = False) -> list[str]:
    return ["scenario", f"offered {unit}", f"achieved {unit}", "p50 ms", "p90 ms", "p99 ms", "max ms", "late",
            "held", "given up", "errors", "server CPU", "client CPU", *(CPU_SPLIT if cpu_split else []),
            "machine busy"]


def _split(r: Result | OpenResult, cpu_split: bool) -> list[str]:
    return [fmt_pct(r.postgres_cpu), fmt_pct(r.other_cpu)] if cpu_split else []


def rows(results: list[Result], ceiling: float, cpu_split: bool = False) -> list[list[str]]:
    return [[
        r.scenario,
        f"{r.rate:,.0f}",
        fmt_ms(r.percentile(50)),
        fmt_ms(r.percentile(99)),
        f"{r.rate / ceiling * 100:.0f}%" if ceiling else "n/a",
        str(r.error_count),
        fmt_pct(r.server_cpu),
        "n/a" if math.isnan(r.server_cpu_per_call_us) else f"{r.server_cpu_per_call_us:.0f}",
        fmt_pct(r.client_cpu),
        *_split(r, cpu_split),
        fmt_pct(r.machine_busy),
    ] for r in results]


def open_rows(results: list[OpenResult], cpu_split: bool = False) -> list[list[str]]:
    return [[
        r.scenario,
        f"{r.offered:,.0f}",
        f"{r.rate:,.0f}",
        *(fmt_ms(r.percentile(q)) for q in (50, 90, 99, 100)),
        f"{r.late:,}",
        f"{r.held:,}",
        f"{r.unsent + r.unfinished:,}",
        str(r.error_count),
        fmt_pct(r.server_cpu),
        fmt_pct(r.client_cpu),
        *_split(r, cpu_split),
        fmt_pct(r.machine_busy),
    ] for r in results]


def text_table(headers: list[str], body: list[list[str]]) -> str:
    table = [headers, *body]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(table):
        lines.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths, strict=True))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(headers: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["--:"] * (len(headers) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def console_table(results: list[Result], ceiling: float, unit: str = "calls/s", reference: str = "echo",
                  cpu_split: bool = False) -> str:
    return text_table(headers(unit, reference, cpu_split), rows(results, ceiling, cpu_split))


def console_open_table(results: list[OpenResult], unit: str = "calls/s", cpu_split: bool = False) -> str:
    return text_table(open_headers(unit, cpu_split), open_rows(results, cpu_split))


def markdown_table(results: list[Result], ceiling: float, unit: str = "calls/s", reference: str = "echo",
                   cpu_split: bool = False) -> str:
    body = [[*row[:2], " / ".join(f"{rate:,.0f}" for rate in result.round_rates) or "-", *row[2:]]
            for result, row in zip(results, rows(results, ceiling, cpu_split), strict=True)]
    columns = headers(unit, reference, cpu_split)
    return md_table([*columns[:2], f"{unit} by round", *columns[2:]], body)


def markdown_open_table(results: list[OpenResult], unit: str = "calls/s", cpu_split: bool = False) -> str:
    return md_table(open_headers(unit, cpu_split), open_rows(results, cpu_split))


def machine_block(when: datetime | None = None, secure: bool = True) -> str:
    """The "Run on" line and the "### Machine" subsection of a service's section; ``secure``: the section's
    servers all run with TLS and tokens."""
    info = machine()
    when = when or datetime.now(UTC)
    security = ("\n- Security as in production: TLS on every connection, the ceilings' included, and a bearer token "
                "on\n  every call, checked by the services; their per-caller rate limits far above what a run offers, "
                "every\n  call of a run from one caller (`bench/security.py`; what it costs: "
                f"\"{SECURITY_SECTION[3:]}\")") if secure else ""
    return f"""Run on {when.strftime('%Y-%m-%d %H:%M UTC')}.

### Machine

- {info['cores']} cores, {info['cpu']}, {info['os']}
- Python {info['python']}, grpcio {info['grpcio']}, protobuf {info['protobuf']}; every Python process
  (services, ceilings, load generator) on the uvloop {info['uvloop']} event loop, as in production{security}"""


def target_lines(targets: list[Target]) -> str:
    return "\n".join(f"- **{'PASS' if t.passed else 'FAIL'}**: {t.text} (measured: {t.measured})" for t in targets)


def round_ratios(result: Result, ceiling: Result) -> str:
    """The ratio to the ceiling round by round (each scenario round runs right after the echo round)."""
    pairs = zip(result.round_rates, ceiling.round_rates, strict=False)
    return ", ".join(f"{mine / echo:.0%}" for mine, echo in pairs if echo)


def _offered(open_results: list[OpenResult], method: dict[str, str]) -> str:
    by_name = {r.scenario: r for r in open_results}
    at_ratio = [name for name in ("Echo", "GetPersona", "RenderPrompt") if name in by_name]
    parts = []
    if at_ratio:
        parts.append(f"{by_name[at_ratio[0]].offered:,.0f} calls/s ({method['open_share']} of the echo ceiling "
                     f"above) to {', '.join(at_ratio)};\n")
    if "ListPersonas" in by_name:
        parts.append(f"{by_name['ListPersonas'].offered:,.0f} calls/s ({method['open_share']} of its own "
                     "saturation throughput) to ListPersonas")
    return "".join(parts).rstrip(";\n")


def persona_section(compiled: list[Result], results: list[Result], open_results: list[OpenResult],
                    targets: list[Target], method: dict[str, str], when: datetime | None = None) -> str:
    clients = int(method["clients"])
    streams = clients // int(method["channels"])
    ceiling, compiled_ceiling = results[0].rate, compiled[0].rate
    echo_mean = clients / ceiling * 1000 if ceiling else float("nan")
    spreads = []
    for label, figures in (("h2load", compiled), ("the Python load generator", results)):
        by_name = {r.scenario: r for r in figures}
        if "Echo" in by_name and "GetPersona" in by_name and len(by_name["Echo"].round_rates) > 1:
            spreads.append(f"with {label}: {round_ratios(by_name['GetPersona'], by_name['Echo'])}")
    spread = ""
    if spreads:
        spread = (f"\nGetPersona against echo round by round, {'; '.join(spreads)}.\nThe spread is the machine's "
                  "noise (other processes share its cores): read a ratio met or missed by a few\npoints as within "
                  "it.\n")
    return f"""{SECTION}

{machine_block(when)}
- Load generators: {method['h2load']} (C), and the benchmark's own Python process (grpc.aio)

### Method

- Processes, all on this machine and sharing its cores, talking over TCP on 127.0.0.1: the persona
  service (`python -m persona_svc`: request context, metrics and error mapping around each call, and
  caches, all as in production; `LOG_LEVEL=WARNING`) on an embedded PostgreSQL of its own
  (`.data/postgres-bench`, a fresh database for this part, dropped after it); a bare `grpc.aio` echo server
  (a generic handler returning the request bytes, nothing around the call) as the ceiling; a load
  generator.
- Two load generators, one after the other, both with {clients} calls in flight on {method['channels']} TCP connections
  per server:
  - **h2load** (nghttp2's HTTP/2 load generator, in C), {method['channels']} connections x {streams} concurrent streams,
    each stream a unary gRPC call whose request body it sends as is. It needs a fraction of the CPU
    the Python client does for the same calls (client CPU column), so on this 2-core machine the
    server, not the client, sets the pace: the targets are read here. It sends one fixed request
    per scenario, and does not read the `grpc-status` trailer, so a call counts as an error unless its
    response body has the size of the response a gRPC stub got for the same request just before.
  - **The Python load generator**: {clients} concurrent clients (asyncio tasks) on {method['channels']} `grpc.aio`
    channels, with varied requests: what a Python client of the service sees. It costs about as
    much CPU per call as the server, on the same two cores.
- Saturation (closed loop), for throughput, with each: a call is replaced by the next as soon as it
  is answered. Each scenario is measured for {method['duration']} s in all, in {method['rounds']} rounds interleaved
  with the other scenarios (so that a change in the machine's load hits them all alike), each round after
  {method['warmup']} s of discarded warm-up. The Python client counts the calls started in the measured
  window; h2load makes a fixed number of calls after its warm-up (as many as the warm-up's pace gives
  in the window, so that every call it sends is answered and checked) and its calls/s is that number
  over the time they took.
- Latency at a fixed offered load (open loop), with the Python load generator, after the saturation
  rounds: each scenario in turn is offered a fixed rate for {method['open_duration']} s, after {method['warmup']} s of
  warm-up at that rate. The rate is spread evenly over the clients, each with its calls scheduled at fixed intervals:
  a call is sent at its scheduled time, or as soon as possible after it, and its latency counts from
  the scheduled time, so a wait to be sent is part of it. A client has at most {method['max_outstanding']} calls in
  flight; a call that finds it at that limit waits for one to end (**held**). **late**: sent more than
  {LATE_AFTER * 1000:g} ms after its scheduled time (held ones included). **given up**: not sent, or not answered,
  {DRAIN:g} s after the window ends (counted in the percentiles with the time waited by then). The rates are
  {method['open_share']} of the Python client's echo ceiling for Echo, GetPersona and RenderPrompt, and
  {method['open_share']} of its own saturation throughput for ListPersonas.
- Catalogue: the sample catalogue ({method['catalogue']}), created through the API first.
- Scenarios: **Echo** with a {method['payload']}-byte payload each way (the mean size of a GetPersona
  response); **GetPersona** of a persona; **ListPersonas**, page_size 20; **RenderPrompt** of a persona
  with a scenario (no learning service in this run, so no patches). h2load always asks for the
  catalogue's first persona and scenario, ListPersonas unfiltered; the Python client for a random
  persona and scenario, and filters half of its ListPersonas by a blueprint.
- CPU columns, over the measured windows: the server process's CPU time per wall second (100% = one
  core, all its threads), the same per call, the load generator's, and the share of all cores busy
  (PostgreSQL and anything else running included).

### Saturation with h2load ({clients} calls in flight)

{markdown_table(compiled, compiled_ceiling)}
{spread}
With {clients} calls always in flight, the mean latency is {clients} / calls/s (Little's law): the p99 of these
tables is that of a server kept at its limit.

### Saturation with the Python load generator (closed loop, {clients} clients)

{markdown_table(results, ceiling)}

Here the machine, not the server, is the limit: the load generator takes most of a core (client CPU),
so every scenario gets less of the machine, the echo ceiling included, and a saturated echo already
waits {echo_mean:.1f} ms on average.

### Latency at a fixed offered load (Python load generator, open loop, {clients} clients)

Offered: {_offered(open_results, method)}.

{markdown_open_table(open_results)}

The load generator takes most of a core here too: compare a scenario's p99 with Echo's at the same
load. Near a server's capacity the tail grows steeply. Held calls, or an achieved rate below
the offered one, mean that the scenario was at or past its capacity at that rate.

`python -m bench --diagnose` (variants of the service, each with one cost removed) and `--profile`
(cProfile on the servers' CPU time, and the CPU of each thread) show where the time goes.

### Targets

{target_lines(targets)}
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


COMMIT_HEADERS = ["phase", "server", "commits", "utterances", "per commit", "mean commit ms", "mean server ack ms"]


def commit_rows(commits: list[tuple[str, str, CommitStats]]) -> list[list[str]]:
    return [[phase, server, f"{c.commits:,.0f}", f"{c.utterances:,.0f}",
             "n/a" if math.isnan(c.mean_group) else f"{c.mean_group:.1f}", fmt_ms(c.mean_commit_ms),
             fmt_ms(c.mean_ack_ms)]
            for phase, server, c in commits]


def console_commit_table(commits: list[tuple[str, str, CommitStats]]) -> str:
    return text_table(COMMIT_HEADERS, commit_rows(commits))


def transcript_section(figures: TranscriptFigures, when: datetime | None = None) -> str:
    m = figures.method
    ceiling_result, service, unary = figures.saturation
    ceiling = ceiling_result.rate
    streams = int(m["streams"])
    per_stream = float(m["rate"].replace(",", "")) / streams
    ratios = ""
    if len(service.round_rates) > 1:
        to_unary = ", ".join(f"{mine / other:.1f}x" for mine, other in
                             zip(service.round_rates, unary.round_rates, strict=False) if other)
        ratios = (f"\nThe service against the ceiling round by round: {round_ratios(service, ceiling_result)};\n"
                  f"against the unary design: {to_unary}. The spread is the machine's noise: read a\n"
                  "target met or missed by a few points as within it.\n")
    unary_mean = streams / unary.rate * 1000 if unary.rate else float("nan")
    loss = figures.loss
    return f"""{TRANSCRIPT_SECTION}

{machine_block(when)}

### Method

- Processes, all on this machine and sharing its cores, talking over TCP on 127.0.0.1, on one
  embedded PostgreSQL (`.data/postgres-bench`, default settings, so every commit is flushed to disk;
  a fresh database for this part, migrated by the service, dropped after it):
  - **{service.scenario}**: `python -m transcript_svc` as in production (request context, metrics and error
    mapping around each call, validation, sequence checks, the per-stream window of
    `TRANSCRIPT_MAX_IN_FLIGHT`), `LOG_LEVEL=WARNING`,
    group commit of at most {m['commit_max_batch']} utterances or {m['commit_max_delay_ms']} ms. No analysis service in
    this run: the analysis requests that fall due every {m['analysis_interval']} messages are written to the outbox in
    the commit, as always, but not delivered.
  - **{ceiling_result.scenario}** (the ceiling): `bench/ceiling_stream_server.py`, a bare `grpc.aio`
    server with the same `StreamSession` method and messages behind a generic handler, nothing
    around the call, no validation, no sequence checks; it stores each utterance with the service's own
    `GroupCommitter` (same limits, same SQL: messages, session's last sequence, outbox) and acks it
    once committed, the acks of all that is committed in one frame.
  - **{unary.scenario}** (the design the stream replaces): `bench/unary_insert_server.py`, a bare
    `grpc.aio` unary server; each call carries one utterance and runs one `INSERT` into
    `transcript.messages`, its own transaction (asyncpg pool of {m['unary_pool']} connections).
  - the load generator (gateway clients), in the benchmark's process.
- Sessions: created through `CreateSession` for the service; inserted straight into
  `transcript.sessions` for the bare servers. Every round and phase uses fresh sessions, so each
  stream starts at sequence 1.
- A gateway stream opens, then sends utterances with sequences 1, 2, 3..., the role alternating and
  `spoken_time` set, texts of a sales discovery call of {m['words']} words ({m['chars']} characters on
  average). It checks that every ack is the next sequence it expects, that none is flagged duplicate
  and that the stream ends with OK.
- Throughput (saturation): {m['streams']} streams on {m['channels']} channels (one TCP connection each) per server,
  each keeping up to {m['window']} utterances unacked (it sends the next as soon as an ack frees a slot).
  Each server is measured for {m['duration']} s in all, in {m['rounds']} rounds interleaved with the other servers,
  each after {m['warmup']} s of discarded warm-up. msgs/s counts the utterances sent in the measured
  windows and acked; latency runs from the write to the ack. The unary design gets {m['streams']} callers on
  {m['channels']} channels, each calling back to back (one utterance per call, its own session), so at most
  {m['streams']} utterances in flight there against {streams * int(m['window']):,} for the streams: that is the design,
  one round trip and one commit per message.
- Ack latency at a fixed offered load (open loop): {m['rate']} msgs/s over {m['streams']} streams, each
  sending {per_stream:g} utterances/s at fixed intervals (the streams staggered), {m['open_duration']} s measured
  after {m['warmup']} s of warm-up; first to the service, then the same load to the ceiling for
  reference. Latency counts from each utterance's scheduled send time to its ack, so a wait to be
  sent is part of it; a stream with {m['window']} utterances unacked holds the next (**held**). **late**:
  sent more than {LATE_AFTER * 1000:g} ms after its scheduled time (held ones included). **given up**: not
  sent, or not acked, {DRAIN:g} s after the window ends (counted in the percentiles with the time
  waited by then). Before each latency measurement (here and below) PostgreSQL is asked for a
  `CHECKPOINT`, so the flush of what the previous phases wrote does not land inside it.
- Live sessions: {m['sessions']} sessions created through the API, one stream each, on
  {m['session_channels']} channels; each stream sends an utterance every {m['session_interval']} s (staggered over
  the interval), held for {m['hold']} s, all of it measured, latency as in the open loop. The streams
  then half-close, and the database is checked: for every session the stored rows are exactly the
  sequences 1 to the last one acked (row count, distinct sequences and highest sequence all equal to
  it), and utterances sent = acked = stored.
- CPU columns, over the measured windows: the server process's CPU time per wall second (100% = one
  core, all its threads), the same per message, the load generator's, the benchmark's PostgreSQL's
  (all its processes), everything else that kept the cores busy (**other CPU**: processes that are
  not part of the benchmark, the kernel), and the share of all cores busy. The machine is shared:
  a high **other CPU** means the figures of that row were taken with fewer cores than it has.

### Throughput (saturation, {streams} streams or unary callers)

{markdown_table(figures.saturation, ceiling, unit="msgs/s", reference="ceiling", cpu_split=True)}
{ratios}
With {m['streams']} callers waiting for each answer, the unary design's mean latency is {m['streams']} / msgs/s
(Little's law, {unary_mean:.1f} ms here); the streams' latencies are those of up to {m['window']} utterances
queued per stream.

### Ack latency at a fixed offered load (open loop)

{markdown_open_table([*figures.open_results, figures.sessions], unit="msgs/s", cpu_split=True)}

Nothing lost: {loss.describe()}.

### Group commits (from the servers' own metrics)

{md_table(COMMIT_HEADERS, commit_rows(figures.commits))}

Over each phase (warm-ups included). **mean commit ms**: one group's transaction, from its first
statement to its commit; **mean server ack ms**: the service's own histogram, from an utterance's
arrival to its ack being queued for the stream. While a group commits, the next one gathers: an
utterance waits for the commit in progress, up to {m['commit_max_delay_ms']} ms for more to join its group, then
its own commit.

`python -m bench --only transcript --profile` runs the service and the ceiling under cProfile (CPU time of
the event loop's thread) and prints where their time goes and the CPU of each of their threads.

### Targets

{target_lines(figures.targets)}
"""
