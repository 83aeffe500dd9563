"""The handoff part of a benchmark run: a switching rule that applies itself hands live calls to another persona.

Latency of one handoff, the requirement's figure: from the moment the rule fires to the moment the gateway stream
reads the ``COMMAND_TYPE_HANDOFF`` command. The rule is evaluated as the reading is judged, just before the reading
is stored with the handoff suggestion it raised; the moment it fires is the reading's ``create_time`` (PostgreSQL's
``now()`` of the transaction storing it), read back from the watcher's stream, against ``time.time_ns`` in the
gateways' process as the command is read: both clocks are this machine's. Next to it, from the moment the gateway
reads the ack of the message whose reading fires the rule to the command; and its ceiling, in the same run and for the
same message: the reading itself, from that ack to the session's watcher reading the analysis (a handoff cannot start
before it). These two are timed with ``time.perf_counter_ns`` as their frame is read. The gateways and watchers are
``bench/handoff_gateways.py``, in a process of their own unless ``--handoff-gateways-in-process``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
from prometheus_client.parser import text_string_to_metric_families
from sparring.analysis.v1 import switching_rule_service_pb2 as rb
from sparring.analysis.v1 import switching_rule_service_pb2_grpc as rb_grpc

from bench import analysis, handoff_gateways, persona, report
from bench.analysis_run import percentile
from bench.children import start_module
from bench.handoff_gateways import TRIGGER, WAIT, Timing
from bench.load import open_channels
from bench.report import fmt_ms, md_table, text_table
from bench.security import ADMIN_ROLES, SECURE
from bench.transcript import Started
from svckit import eventloop

SECTION = "## Handoffs"
TARGET_P99_MS = 100.0
PLAYING, TAKING_OVER = "personas/sarah-chen", "personas/margaret-oconnell"
WARMUP = 5  # handoffs of a first round, discarded
# The target is read at a fixed offered load, this share of the rate the same run saturates at, as for the persona
# service's latencies: at saturation a closed loop measures its own queue.
LOAD_SHARE = 0.5


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


# Where the time of a handoff goes, as the services' histograms have it (a mean per phase): (label, metric family,
# the value of the label that tells its phase, '' for none, the service that records it).
_TRANSCRIPT, _ANALYSIS = "transcript", "analysis"
PHASES = [
    ("StartHandoff as the analysis service calls it (RPC crossing included)",
     "sparring_switching_handoff_start_seconds", "", _ANALYSIS),
    ("StartHandoff as the transcript service handles it", "grpc_server_handling_seconds", "StartHandoff",
     _TRANSCRIPT),
    ("reading the call", "sparring_handoff_phase_seconds", "read", _TRANSCRIPT),
    ("persona service (prompt, availability, memory)", "sparring_handoff_phase_seconds", "persona", _TRANSCRIPT),
    ("opening the transaction, locking the session", "sparring_handoff_phase_seconds", "lock", _TRANSCRIPT),
    ("then waiting for the persona service", "sparring_handoff_phase_seconds", "persona_wait", _TRANSCRIPT),
    ("statements under the lock", "sparring_handoff_phase_seconds", "statements", _TRANSCRIPT),
    ("commit (last statement and COMMIT)", "sparring_handoff_phase_seconds", "commit", _TRANSCRIPT),
    ("commit -> command on a stream held here", "sparring_handoff_phase_seconds", "to_stream", _TRANSCRIPT),
    ("NOTIFY received -> command on the stream (its delivery marked)", "sparring_transcript_command_delivery_seconds",
     "", _TRANSCRIPT),
]
# A histogram's totals by label value: (count, sum in seconds).
Totals = dict[tuple[str, str], tuple[float, float]]


def _histogram_totals(metrics_port: int | None) -> Totals:
    """The ``_count`` and ``_sum`` of every histogram of PHASES a service exposes, by (family, label value)."""
    if metrics_port is None:
        return {}
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    families = {family for _, family, _, _ in PHASES}
    totals: dict[tuple[str, str], list[float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in families:
            continue
        for sample in family.samples:
            if sample.name.endswith(("_count", "_sum")):
                label = sample.labels.get("grpc_method", sample.labels.get("phase", ""))
                pair = totals.setdefault((family.name, label), [0.0, 0.0])
                pair[sample.name.endswith("_sum")] += sample.value
    return {key: (count, seconds) for key, (count, seconds) in totals.items()}


def _breakdown_rows(before: dict[str, Totals], after: dict[str, Totals]) -> list[list[str]]:
    """The mean of each phase over the measured handoffs (what the warm-up recorded taken away)."""
    rows = []
    for name, family, label, service in PHASES:
        count, seconds = after[service].get((family, label), (0.0, 0.0))
        count_before, seconds_before = before[service].get((family, label), (0.0, 0.0))
        count, seconds = count - count_before, seconds - seconds_before
        rows.append([name, f"{count:,.0f}", fmt_ms(seconds / count * 1000) if count else "-"])
    return rows


@dataclass
class Round:
    """One round of measured handoffs."""

    fired_ms: list[float]
    handoff_ms: list[float]
    reading_ms: list[float]
    missing: list[str]  # sessions whose handoff command did not reach the gateway within WAIT
    breakdown: list[list[str]]  # the mean of each phase, from the services' histograms
    seconds: float  # first session started to last command read

    @property
    def rate(self) -> float:
        return len(self.fired_ms) / self.seconds if self.seconds else math.nan


@dataclass
class Figures:
    saturation: Round  # closed loop, ``concurrency`` sessions at a time
    offered: Round  # open loop, at LOAD_SHARE of the saturation round's rate: the target's round
    offered_rate: float  # handoffs/s offered in that round
    concurrency: int
    gateways_in_process: bool
    elapsed: float  # the whole part, start-up to stop
    targets: list[report.Target]


async def _gateways(args: argparse.Namespace, transcript: Started, analysis_service: Started, sessions: list[str],
                    root: Path, logs: Path, label: str, rate: float | None) -> tuple[list[Timing], list[str]]:
    """The sessions' handoffs as their gateways and watchers time them (closed loop, or open at ``rate``): in a
    process of their own, unless ``--handoff-gateways-in-process``."""
    if args.handoff_gateways_in_process:
        return await handoff_gateways.handoffs(transcript.address, analysis_service.address, sessions,
                                               args.handoff_concurrency, rate)
    names, timings = logs / f"handoff-{label}-sessions.json", logs / f"handoff-{label}-timings.json"
    names.write_text(json.dumps(sessions))
    child = start_module(f"handoff gateways ({label})", [
        "bench.handoff_gateways", "--transcript", transcript.address, "--analysis", analysis_service.address,
        "--sessions", str(names), "--concurrency", str(args.handoff_concurrency), "--out", str(timings),
        *(["--rate", str(rate)] if rate is not None else [])], root, logs / f"handoff-gateways-{label}.log")
    # Every session has WAIT at most once started; a minute more for the process to start and stop.
    starting = len(sessions) / rate if rate is not None else WAIT * math.ceil(len(sessions) / args.handoff_concurrency)
    try:
        code = await asyncio.to_thread(child.process.wait, starting + WAIT + 60)
    finally:
        child.stop()
    if code != 0:
        raise RuntimeError(f"the handoff gateways exited with code {code}; log {child.log_path}:\n{child.log_tail()}")
    return handoff_gateways.read(timings)


async def _round(args: argparse.Namespace, transcript: Started, analysis_service: Started, channel: grpc.aio.Channel,
                 root: Path, logs: Path, label: str, rate: float | None) -> Round:
    sessions = await analysis.create_sessions(channel, f"handoff-{label}", args.handoffs, TRIGGER)
    load = f"{args.handoff_concurrency} at a time" if rate is None else f"{rate:.1f} started per second"
    log(f"handoffs ({label}): {len(sessions)} sessions, {load}, each handed from {PLAYING} to {TAKING_OVER} by a "
        f"rule that applies itself at the reading of message {TRIGGER}")
    ports = {_TRANSCRIPT: transcript.metrics_port, _ANALYSIS: analysis_service.metrics_port}
    before = {service: await asyncio.to_thread(_histogram_totals, port) for service, port in ports.items()}
    began = time.monotonic()
    timed, missing = await _gateways(args, transcript, analysis_service, sessions, root, logs, label, rate)
    seconds = time.monotonic() - began
    after = {service: await asyncio.to_thread(_histogram_totals, port) for service, port in ports.items()}
    return Round([t.fired_to_command for t in timed], [t.ack_to_command for t in timed],
                 [t.ack_to_reading for t in timed], missing, _breakdown_rows(before, after), seconds)


async def _measure(args: argparse.Namespace, transcript: Started, analysis_service: Started, root: Path,
                   logs: Path) -> Figures:
    transcript_channel = open_channels(transcript.address, 1)[0]
    analysis_channel = open_channels(analysis_service.address, 1)[0]
    try:
        await analysis.wait_ready(transcript, analysis_service, transcript_channel, analysis_channel)
        async with SECURE.channel(analysis_service.address, ADMIN_ROLES) as admin:
            await rb_grpc.SwitchingRuleServiceStub(admin).CreateSwitchingRule(rb.CreateSwitchingRuleRequest(
                switching_rule=rb.SwitchingRule(from_persona=PLAYING, to_persona=TAKING_OVER, pattern=r"\bpricing\b",
                                                reason="Pricing questions go to finance", priority=10,
                                                auto_apply=True)), timeout=10)
        warmup = await analysis.create_sessions(transcript_channel, "handoff-warmup", WARMUP, TRIGGER)
        await _gateways(args, transcript, analysis_service, warmup, root, logs, "warmup", None)
        saturation = await _round(args, transcript, analysis_service, transcript_channel, root, logs, "saturation",
                                  None)
        offered_rate = saturation.rate * LOAD_SHARE
        offered = await _round(args, transcript, analysis_service, transcript_channel, root, logs, "offered",
                               offered_rate)
    finally:
        await transcript_channel.close()
        await analysis_channel.close()
    p99 = percentile(offered.fired_ms, 99)
    target = report.Target(
        f"handoff p99 under {TARGET_P99_MS:g} ms from the rule firing (its reading stored) to the gateway reading "
        f"the HANDOFF command, at a fixed offered load of half the saturation rate",
        p99 < TARGET_P99_MS and not offered.missing and bool(offered.fired_ms),
        f"p99 {fmt_ms(p99)} ms, p50 {fmt_ms(percentile(offered.fired_ms, 50))} ms over {len(offered.fired_ms)} "
        f"handoffs at {offered_rate:.1f}/s offered; at saturation ({args.handoff_concurrency} at a time, "
        f"{saturation.rate:.1f}/s) p99 {fmt_ms(percentile(saturation.fired_ms, 99))} ms"
        + (f", {len(offered.missing)} missing" if offered.missing else ""))
    return Figures(saturation, offered, offered_rate, args.handoff_concurrency, args.handoff_gateways_in_process, 0.0,
                   [target])


def run(args: argparse.Namespace, root: Path, database_url: str, logs: Path) -> Figures:
    """The persona (sample catalogue), transcript and analysis services on the part's database; stops them."""
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        personas, persona_address = persona.start_catalogue_service(root, database_url, logs)
        stack.callback(personas.stop)
        transcript, analysis_service = analysis.start_services(root, database_url, logs, persona_address)
        stack.callback(transcript.child.stop)
        stack.callback(analysis_service.child.stop)
        figures = eventloop.run(_measure(args, transcript, analysis_service, root, logs))
    figures.elapsed = time.monotonic() - began
    return figures


# --- figures to text ----------------------------------------------------------------------------------------

HEADERS = ["round", "latency", "count", "p50 ms", "p90 ms", "p99 ms", "max ms"]


def _round_names(figures: Figures) -> list[tuple[str, Round]]:
    return [(f"{figures.offered_rate:.1f}/s offered", figures.offered),
            (f"saturation, {figures.concurrency} at a time", figures.saturation)]


def rows(figures: Figures) -> list[list[str]]:
    return [[name, latency, f"{len(values):,}", *(fmt_ms(percentile(values, q)) for q in (50, 90, 99, 100))]
            for name, measured in _round_names(figures)
            for latency, values in (("rule fired -> HANDOFF command at the gateway", measured.fired_ms),
                                    ("ack -> HANDOFF command at the gateway", measured.handoff_ms),
                                    ("ceiling: ack -> the reading at a watcher", measured.reading_ms))]


def _breakdown_headers(figures: Figures) -> list[str]:
    return ["phase (as the services time it)", *(f"mean ms, {name}" for name, _ in _round_names(figures))]


def _breakdown(figures: Figures) -> list[list[str]]:
    """Each phase's mean in each round (the count is each round's handoffs, or 0 where a phase did not happen)."""
    offered, saturation = figures.offered.breakdown, figures.saturation.breakdown
    return [[phase, mean_offered, mean_saturation]
            for (phase, _, mean_offered), (_, _, mean_saturation) in zip(offered, saturation, strict=True)]


def console(figures: Figures) -> str:
    return ("Handoffs: from the rule firing, and from its message's ack, to the command at the gateway\n\n"
            + text_table(HEADERS, rows(figures)) + "\n\nWhere the time goes\n\n"
            + text_table(_breakdown_headers(figures), _breakdown(figures)))


def section(figures: Figures, when: datetime | None = None) -> str:
    gateways = ("in the benchmark's own process (`--handoff-gateways-in-process`)" if figures.gateways_in_process
                else "in a process of their own (`bench/handoff_gateways.py`, a child of the benchmark), so the client "
                     "that measures\n  shares no event loop with the benchmark's other work; until 2026-12-04 they "
                     "ran in the benchmark's\n  process (`--handoff-gateways-in-process` runs them so)")
    missing = {name: len(measured.missing) for name, measured in _round_names(figures)}
    sessions = len(figures.offered.fired_ms) + len(figures.offered.missing)
    return f"""{SECTION}

{report.machine_block(when or datetime.now(UTC))}
- The machine is shared (2 cores, other people's processes on it). This part of the run took
  {figures.elapsed:.0f} s, start-up and checks included.

### Method

- The transcript and analysis services as in the analysis section (local engine, one replica each), and a
  persona service holding the sample catalogue, which the handoff asks for the new persona's prompt.
- The simulated gateways and watchers run {gateways}.
- One switching rule: from `{PLAYING}` to `{TAKING_OVER}`, pattern `\\bpricing\\b`, `auto_apply`.
- Each session is watched (`WatchSession`, its snapshot read), then its gateway streams {TRIGGER} utterances, the
  third a candidate asking about pricing; the session's analysis interval is {TRIGGER}, so the reading of
  message {TRIGGER} fires the rule, which starts the handoff itself.
- Two rounds of {sessions:,} sessions each, after {WARMUP} discarded:
  - **Saturation** (closed loop): {figures.concurrency} sessions at a time, the next started as soon as one has
    its command: the most handoffs per second the machine carries ({figures.saturation.rate:,.1f}/s over
    {figures.saturation.seconds:.1f} s). Its latencies are mostly the queue a closed loop builds at saturation.
  - **Fixed offered load** (open loop), the target's round: a session started every 1/{figures.offered_rate:.1f} s,
    half the saturation rate of the same run, whatever the others are doing (as the persona service's latencies
    are read at half its ceiling); {figures.offered.rate:,.1f} handoffs/s completed over
    {figures.offered.seconds:.1f} s.
- **Rule fired -> command** (the requirement's figure): from the moment the rule fires to the gateway stream
  reading the `COMMAND_TYPE_HANDOFF` command. The rule is evaluated as the reading of message {TRIGGER} is judged,
  just before that reading is stored with the handoff suggestion it raised: the moment is the reading's
  `create_time` (PostgreSQL's `now()` in the transaction storing it), read back from the watcher's stream, against
  `time.time_ns` in the gateways' process as the command is read (both this machine's clock). It holds the
  reading's commit, `StartHandoff` (the persona service's prompt and the transcript database) and the command's way
  down the live stream.
- **Ack -> command**: from the gateway reading the ack of message {TRIGGER} to the same stream reading the
  command. **Ceiling**: from the same ack to the watcher reading the analysis of message {TRIGGER} (the reading the
  rule is evaluated at). Both timed with `time.perf_counter_ns` in the gateways' process as their frame is read.

### Latency

{md_table(HEADERS, rows(figures))}

Missing (no HANDOFF command within {WAIT:g} s): {"; ".join(f"{name}: {n}" for name, n in missing.items())}.

### Where the time goes

The mean of each phase over each round's handoffs, from the services' own histograms (read from their `/metrics`
before and after the round); the phases overlap the figures above, they do not add up to them.

{md_table(_breakdown_headers(figures), _breakdown(figures))}

### Targets

{report.target_lines(figures.targets)}
"""
