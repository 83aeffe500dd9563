"""The analysis part of a benchmark run: one analysis service (local engine) fed by the transcript service.

Latency of one analysis: from the moment the gateway reads the ack of the message that triggers it (every N
durable messages) to the moment a ``WatchSession`` watcher of the session reads its Say Meter; both read by
the benchmark's process and timed with ``time.perf_counter_ns``, each analysis matched to its trigger by its
window's last sequence.

1. Idle: one session at a time, one analysis in flight at a time on the whole system.
2. Live sessions: many sessions, each with a gateway stream sending an utterance at a fixed interval and a
   watcher, held for a while; then every analysis triggered must have reached its watcher.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc

from bench import analysis, persona, report
from bench.analysis import STAGES, Matched, Stored, TimedStream, Watcher
from bench.database import checkpoint
from bench.load import LATE_AFTER, CpuSnapshot, OpenResult, apply_cpu, open_channels, quiet_gc, run_open_load
from bench.report import fmt_ms, fmt_pct, md_table, text_table
from bench.streams import close_streams, stream_calls
from bench.transcript import TEXTS, LossCheck, Started, check_nothing_lost
from svckit import eventloop

SECTION = "## Analysis service"
IDLE, LIVE = "idle", "live sessions"
TARGET_IDLE_P99_MS = 50.0
TARGET_LIVE_P99_MS = 150.0
IDLE_PER_SESSION = 10  # analyses per session in the idle phase (100 messages at an interval of 10)
IDLE_WARMUP = 5  # analyses of a first session, discarded
SLOW_CLAIM_MS = 500.0  # an outbox wait this long is the dispatcher's 1 s poll, not its NOTIFY
IDLE_WAIT = 10.0  # seconds an idle analysis may take before it is counted missing


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


@dataclass
class Phase:
    name: str
    sessions: int
    seconds: float  # the measured window
    matched: Matched
    utterances: int  # acked in the window
    analyses_in_window: int  # received by watchers in the window
    cpu: OpenResult  # server_cpu = the analysis service; other_cpu excludes the transcript service
    transcript_cpu: float
    stored: Stored
    stages: dict[str, list[float]]  # the latency cut at the outbox claim and the insert (bench.analysis.stages)
    acks: OpenResult | None = None  # live sessions: the utterances' ack latency, from their schedule
    loss: LossCheck | None = None
    # live sessions: each service's event-loop lags in the window, cumulative counts by upper bound (seconds)
    loop_lags: dict[str, dict[float, float]] = field(default_factory=dict)
    waits: str = ""  # live sessions: what PostgreSQL's sessions waited on in the window, on average (WaitSampler)

    @property
    def utterance_rate(self) -> float:
        return self.utterances / self.seconds if self.seconds else 0.0

    @property
    def analysis_rate(self) -> float:
        return self.analyses_in_window / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.matched.latencies_ms, q)


@dataclass
class Figures:
    idle: Phase
    live: Phase
    targets: list[report.Target]
    method: dict[str, str]
    elapsed: float  # seconds the whole part took, start-up to stop


def percentile(values_ms: list[float], q: float) -> float:
    """Nearest rank, as ``bench.load`` does (``q`` = 100: the maximum)."""
    if not values_ms:
        return float("nan")
    ordered = sorted(values_ms)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


class _Cpu:
    """CPU over a window: the analysis service as the "server", the transcript service apart."""

    def __init__(self, transcript: Started, analysis_service: Started) -> None:
        self._transcript = transcript
        self._analysis = analysis_service
        self._before = CpuSnapshot.take(analysis_service.child)
        self._transcript_before = transcript.child.cpu_seconds()

    def result(self, name: str) -> tuple[OpenResult, float]:
        after = CpuSnapshot.take(self._analysis.child)
        wall = after.wall - self._before.wall
        transcript_cpu = (self._transcript.child.cpu_seconds() - self._transcript_before) / wall if wall else 0.0
        result = OpenResult(name, offered=0.0, seconds=wall)
        apply_cpu(result, self._before, after)
        if not math.isnan(result.other_cpu):
            result.other_cpu = max(0.0, result.other_cpu - transcript_cpu)
        return result, transcript_cpu


async def _send_acked(stream: TimedStream, count: int) -> None:
    for _ in range(count):
        await (await stream.send())


@quiet_gc
async def _idle(args: argparse.Namespace, transcript: Started, analysis_service: Started,
                transcript_channel: grpc.aio.Channel, analysis_channel: grpc.aio.Channel,
                database_url: str) -> Phase:
    interval = args.analysis_every
    counts = [IDLE_PER_SESSION] * (args.idle_analyses // IDLE_PER_SESSION)
    if args.idle_analyses % IDLE_PER_SESSION:
        counts.append(args.idle_analyses % IDLE_PER_SESSION)
    sessions = await analysis.create_sessions(transcript_channel, "idle", len(counts) + 1, interval)
    wall_minus_perf = time.time_ns() - time.perf_counter_ns()
    log(f"idle: {args.idle_analyses} analyses, one at a time, over {len(counts)} sessions (after {IDLE_WARMUP} "
        f"discarded); each: {interval} utterances sent one after the other, each after the previous ack, then "
        f"the watcher's analysis awaited, then a {args.idle_pause * 1000:g} ms pause")
    pairs: list[tuple[TimedStream, Watcher]] = []
    cpu: _Cpu | None = None
    began = 0
    for index, (session, count) in enumerate(zip(sessions, [IDLE_WARMUP, *counts], strict=True)):
        if index == 1:  # after the warm-up session
            await checkpoint(database_url)
            cpu = _Cpu(transcript, analysis_service)
            began = time.perf_counter_ns()
        watcher = (await analysis.open_watchers([analysis_channel], [session]))[0]  # subscribed: snapshot read
        stream = (await analysis.open_timed_streams([transcript_channel], [session], TEXTS, args.window,
                                                    interval))[0]
        try:
            for k in range(1, count + 1):
                await _send_acked(stream, interval)
                if not await watcher.wait_for([k * interval], IDLE_WAIT):
                    log(f"  {session}: no analysis of sequence {k * interval} within {IDLE_WAIT:g}s")
                await asyncio.sleep(args.idle_pause)
        finally:
            await stream.close()
            await watcher.close()
        if index > 0:
            pairs.append((stream, watcher))
    ended = time.perf_counter_ns()
    assert cpu is not None
    usage, transcript_cpu = cpu.result(IDLE)
    matched = analysis.match(pairs)
    db = await analysis.stored(database_url, [s.session for s, _ in pairs], matched.missing)
    seconds = (ended - began) / 1e9
    phase = Phase(IDLE, len(pairs), seconds, matched, sum(s.acked for s, _ in pairs), matched.received, usage,
                  transcript_cpu, db, analysis.stages(pairs, db, wall_minus_perf))
    _log_phase(phase)
    return phase


def _prefill(index: int, interval: int) -> int:
    """Utterances session ``index`` sends before the window, so that the sessions reach their analyses at
    evenly spread times rather than all within the same interval (they all start together)."""
    return index % interval


async def _live(args: argparse.Namespace, transcript: Started, analysis_service: Started,
                transcript_channel: grpc.aio.Channel, database_url: str) -> Phase:
    interval = args.analysis_every
    started = time.monotonic()
    sessions = await analysis.create_sessions(transcript_channel, "live", args.analysis_sessions, interval)
    transcript_channels = open_channels(transcript.address, args.analysis_channels)
    analysis_channels = open_channels(analysis_service.address, args.analysis_channels)
    try:
        # Every watcher is subscribed (its snapshot read) before any utterance is sent.
        watchers = await analysis.open_watchers(analysis_channels, sessions)
        log(f"{len(sessions):,} sessions created and their watchers subscribed on {args.analysis_channels} channels "
            f"in {time.monotonic() - started:.1f}s")
        streams = await analysis.open_timed_streams(transcript_channels, sessions, TEXTS, args.window, interval)
        await asyncio.gather(*(_send_acked(s, _prefill(i, interval)) for i, s in enumerate(streams)))
        pairs = list(zip(streams, watchers, strict=True))
        # The prefill is sent at once (thousands of utterances within a second, which no call does): the analyses
        # it triggers are set-up too, and the window starts once they are in, not while they are still queued.
        prefilled = time.monotonic()
        if not await analysis.wait_all(pairs, args.analysis_drain):
            log(f"  NOT every analysis of the prefill in within {args.analysis_drain:g}s; the window starts anyway")
        rate = len(streams) / args.utterance_interval
        log(f"streams opened, 0 to {interval - 1} utterances sent to each so that their analyses fall due at "
            f"spread times, and their analyses in after {time.monotonic() - prefilled:.1f}s; each sends an utterance "
            f"every {args.utterance_interval:g}s ({rate:,.0f} utterances/s in all, an analysis every {interval} "
            f"messages: {rate / interval:,.0f}/s) for {args.analysis_hold:g}s")
        await checkpoint(database_url)
        services = {"transcript": transcript, "analysis": analysis_service}
        lags_before = {name: await analysis.loop_lags(s.metrics_port) for name, s in services.items()}
        waits = analysis.WaitSampler(database_url)
        await waits.start()
        cpu = _Cpu(transcript, analysis_service)
        wall_minus_perf = time.time_ns() - time.perf_counter_ns()
        began = time.perf_counter_ns()
        acks = await run_open_load(f"{len(streams):,} sessions", stream_calls(streams), len(streams), rate, 0.0,
                                   args.analysis_hold, analysis_service.child, max_outstanding=args.window)
        ended = time.perf_counter_ns()
        usage, transcript_cpu = cpu.result(LIVE)
        await waits.stop()
        lags = {name: _minus(await analysis.loop_lags(s.metrics_port), lags_before[name])
                for name, s in services.items()}
        await close_streams(streams)
        complete = await analysis.wait_all(pairs, args.analysis_drain)
        waited = (time.perf_counter_ns() - ended) / 1e9
        await asyncio.gather(*(w.close() for w in watchers))
    finally:
        for channel in (*transcript_channels, *analysis_channels):
            await channel.close()
    log(f"  {'every analysis in' if complete else 'NOT every analysis in'} {waited:.1f}s after the window "
        f"(at most {args.analysis_drain:g}s waited)")
    matched = analysis.match(pairs, since_ns=began)
    loss = await check_nothing_lost(database_url, streams)
    db = await analysis.stored(database_url, sessions, matched.missing)
    seconds = (ended - began) / 1e9
    in_window = sum(began <= t < ended for t in matched.arrivals_ns)
    phase = Phase(LIVE, len(pairs), seconds, matched, acks.answered_in_window, in_window, usage, transcript_cpu,
                  db, analysis.stages(pairs, db, wall_minus_perf, since_ns=began), acks, loss, lags, waits.describe())
    _log_phase(phase)
    log(f"  {_tail(phase)}")
    log(f"  utterance acks: offered {acks.offered:,.0f}/s, achieved {acks.rate:,.0f}/s, p50 {acks.percentile(50):.1f} "
        f"p99 {acks.percentile(99):.1f} max {acks.percentile(100):.1f} ms, late {acks.late}, not sent {acks.unsent}, "
        f"unanswered {acks.unfinished}" + (f", errors {acks.errors}" if acks.errors else ""))
    log(f"  messages {'nothing lost' if loss.passed else 'LOSS OR MISMATCH'}: {loss.describe()}")
    return phase


def _minus(after: dict[float, float], before: dict[float, float]) -> dict[float, float]:
    return {bound: count - before.get(bound, 0.0) for bound, count in after.items()}


def _over(lags: dict[float, float], seconds: float) -> int:
    """How many ticks lagged more than ``seconds`` (a bucket bound)."""
    return round(lags.get(math.inf, 0.0) - lags.get(seconds, 0.0))


def _tail(phase: Phase) -> str:
    """Where the slowest 1% of the analyses spent their time, and how often each service's event loop stalled."""
    parts = analysis.slowest_parts(phase.stages)
    text = "The slowest 1% (median of each part): " + ", ".join(
        f"{name} {fmt_ms(ms)} ms" for name, ms in parts.items())
    for name, lags in phase.loop_lags.items():
        text += (f"; the {name} service's event loop ran late by more than 50 ms {_over(lags, 0.05):,} times, "
                 f"more than 250 ms {_over(lags, 0.25):,} times")
    if phase.waits:
        text += f"; PostgreSQL's active sessions, on average, by what they waited on: {phase.waits}"
    return text


def _log_phase(phase: Phase) -> None:
    m = phase.matched
    log(f"  {phase.name}: {m.received:,}/{m.expected:,} analyses at their watcher, p50 {phase.percentile(50):.1f} "
        f"p90 {phase.percentile(90):.1f} p99 {phase.percentile(99):.1f} max {phase.percentile(100):.1f} ms; "
        f"{phase.utterance_rate:,.1f} utterances/s, {phase.analysis_rate:,.1f} analyses/s; {phase.stored.describe()}")
    log(f"  {'no analysis lost' if m.passed else 'ANALYSES MISSING OR WRONG'}: {m.describe()}")
    for session, sequence in m.missing[:10]:
        log(f"    missing: {session} window ..{sequence}"
            + (" (not stored either)" if (session, sequence) in phase.stored.not_stored else " (stored)"))
    for line in [*m.odd[:5], *m.failed_watchers[:5], *phase.stored.outbox_errors[:5]]:
        log(f"    {line}")


async def _measure(args: argparse.Namespace, transcript: Started, analysis_service: Started,
                   database_url: str) -> tuple[Phase, Phase]:
    transcript_channel = open_channels(transcript.address, 1)[0]
    analysis_channel = open_channels(analysis_service.address, 1)[0]
    try:
        began = time.monotonic()
        await analysis.wait_ready(transcript, analysis_service, transcript_channel, analysis_channel)
        log(f"transcript and analysis services ready in {time.monotonic() - began:.1f}s")
        idle = await _idle(args, transcript, analysis_service, transcript_channel, analysis_channel, database_url)
        live = await _live(args, transcript, analysis_service, transcript_channel, database_url)
        return idle, live
    finally:
        await transcript_channel.close()
        await analysis_channel.close()


def _latency_target(text: str, phase: Phase, limit_ms: float) -> report.Target:
    m = phase.matched
    p99 = phase.percentile(99)
    return report.Target(
        text, p99 < limit_ms and m.received == m.expected and m.received > 0,
        f"p99 {p99:.2f} ms, p50 {phase.percentile(50):.2f} ms over {m.received:,} analyses"
        + (f", {len(m.missing):,} missing" if m.missing else ""))


def targets(idle: Phase, live: Phase, method: dict[str, str]) -> list[report.Target]:
    return [
        _latency_target(f"p99 under {TARGET_IDLE_P99_MS:g} ms from the commit of the triggering message to its Say "
                        "Meter at a watcher, idle (one analysis at a time)", idle, TARGET_IDLE_P99_MS),
        _latency_target(f"p99 under {TARGET_LIVE_P99_MS:g} ms, same latency, with {live.sessions:,} live sessions "
                        f"({method['rate']} utterances/s, an analysis every {method['interval']} messages, a watcher "
                        "each)", live, TARGET_LIVE_P99_MS),
        report.Target(f"no analysis lost with {live.sessions:,} live sessions: every analysis triggered reached its "
                      "session's watcher", live.matched.passed, live.matched.describe()),
    ]


def run(args: argparse.Namespace, root: Path, database_url: str, logs: Path,
        profile: Callable[[str], Path | None]) -> Figures:
    """The two services on the part's database, both phases; stops the services."""
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        personas, persona_address = persona.start_catalogue_service(root, database_url, logs)
        stack.callback(personas.stop)  # stopped last: the transcript service checks sessions against it
        transcript, analysis_service = analysis.start_services(root, database_url, logs, persona_address,
                                                               profile("transcript-analysis"), profile("analysis"))
        stack.callback(transcript.child.stop)  # the analysis service reads from it
        stack.callback(analysis_service.child.stop)
        idle, live = eventloop.run(_measure(args, transcript, analysis_service, database_url))
        for label, server in (("analysis service", analysis_service), ("transcript service", transcript)):
            code = server.child.stop()
            if code not in (0, None):
                log(f"{label} exited with code {code} on SIGTERM; log {server.child.log_path}:\n"
                    f"{server.child.log_tail()}")
    rate = live.sessions / args.utterance_interval
    method = {
        "interval": str(args.analysis_every), "idle_analyses": f"{idle.matched.expected:,}",
        "idle_sessions": str(idle.sessions), "idle_pause": f"{args.idle_pause * 1000:g}",
        "sessions": f"{live.sessions:,}", "channels": str(args.analysis_channels),
        "utterance_interval": f"{args.utterance_interval:g}", "rate": f"{rate:,.0f}",
        "analysis_rate": f"{rate / args.analysis_every:,.0f}", "hold": f"{args.analysis_hold:g}",
        "drain": f"{args.analysis_drain:g}", "window": str(args.window),
    }
    return Figures(idle, live, targets(idle, live, method), method, time.monotonic() - began)


# --- figures to text ----------------------------------------------------------------------------------------


LATENCY_HEADERS = ["phase", "sessions", "utterances/s", "analyses/s", "analyses triggered", "received by watchers",
                   "missing", "p50 ms", "p90 ms", "p99 ms", "max ms"]
CPU_HEADERS = ["phase", "transcript CPU", "analysis CPU", "PostgreSQL CPU", "client CPU", "other CPU", "machine busy"]
SCORING = "of which: window read and scoring (the analysis's latency field)"
TOTAL = "total: ack -> at the watcher"


def parts_headers(phases: list[Phase]) -> list[str]:
    return ["part", *(f"{p.name} {q}" for p in phases for q in ("p50 ms", "p99 ms", "max ms"))]


def latency_rows(phases: list[Phase]) -> list[list[str]]:
    return [[p.name, f"{p.sessions:,}", f"{p.utterance_rate:,.1f}", f"{p.analysis_rate:,.1f}",
             f"{p.matched.expected:,}", f"{p.matched.received:,}", f"{len(p.matched.missing):,}",
             *(fmt_ms(p.percentile(q)) for q in (50, 90, 99, 100))] for p in phases]


def cpu_rows(phases: list[Phase]) -> list[list[str]]:
    return [[p.name, fmt_pct(p.transcript_cpu), fmt_pct(p.cpu.server_cpu), fmt_pct(p.cpu.postgres_cpu),
             fmt_pct(p.cpu.client_cpu), fmt_pct(p.cpu.other_cpu), fmt_pct(p.cpu.machine_busy)] for p in phases]


def parts_rows(phases: list[Phase]) -> list[list[str]]:
    """The latency cut in three at two instants inside the services (``bench.analysis.stages``): each part's
    own percentiles (they do not add up; the parts of each analysis do)."""
    rows = []
    for name in (*STAGES, SCORING, TOTAL):
        row = [name]
        for phase in phases:
            values = (phase.matched.engine_ms if name == SCORING else phase.matched.latencies_ms if name == TOTAL
                      else phase.stages[name])
            row += [fmt_ms(percentile(values, q)) for q in (50, 99, 100)]
        rows.append(row)
    return rows


def console(figures: Figures) -> str:
    phases = [figures.idle, figures.live]
    return "\n\n".join([
        "Analysis service: ack of the triggering message -> Say Meter at the watcher\n\n"
        + text_table(LATENCY_HEADERS, latency_rows(phases)),
        "Analysis service: CPU (per wall second, 100% = one core)\n\n" + text_table(CPU_HEADERS, cpu_rows(phases)),
        "Analysis service: parts of the latency\n\n" + text_table(parts_headers(phases), parts_rows(phases)),
    ])


def _slow_claims(phase: Phase) -> str:
    waits = phase.stages[STAGES[0]]
    slow = sum(w > SLOW_CLAIM_MS for w in waits)
    text = (f"{phase.name.capitalize()}: {slow:,} of {len(waits):,} analyses waited more than {SLOW_CLAIM_MS:g} ms "
            "in the outbox before their claim")
    if phase.acks is not None:
        a = phase.acks
        text += (f". The utterances' acks meanwhile: p50 {fmt_ms(a.percentile(50))} ms, "
                 f"p99 {fmt_ms(a.percentile(99))} ms "
                 f"from their scheduled send time, {a.late:,} late (sent more than {LATE_AFTER * 1000:g} ms after it), "
                 f"{a.unsent + a.unfinished:,} given up, "
                 f"{a.error_count} errors")
    return text + "."


def section(figures: Figures, when: datetime | None = None) -> str:
    m = figures.method
    idle, live = figures.idle, figures.live
    when = when or datetime.now(UTC)
    nothing_lost = live.loss.describe() if live.loss else "not checked"
    return f"""{SECTION}

{report.machine_block(when)}
- The machine is shared (2 cores, other people's processes on it): **other CPU** below is what they
  and the kernel took during each phase. This part of the run took {figures.elapsed:.0f} s, start-up and
  checks included.

### Method

- One analysis port, local engine. Processes, all on this machine and sharing its cores, talking over TCP
  on 127.0.0.1, on the benchmark's embedded PostgreSQL (`.data/postgres-bench`, default settings), in a
  database of this part's own (created for it, migrated by the services, dropped after it: nothing of the
  earlier parts, neither their rows nor the analysis requests left in their transcript outbox, is there):
  - `python -m transcript_svc` as in production, with `TRANSCRIPT_ANALYSIS_ADDRESS` set: every
    {m['interval']} durable messages of a session (the session's `analysis_interval`, set at `CreateSession`),
    the group commit that stores the message writes an analysis request to the outbox and NOTIFYs; the
    outbox dispatcher claims it and calls `AnalysisService.RequestAnalysis` (`trigger_id` `seq-N`).
  - `python -m analysis_svc`, one replica, `ANALYSIS_ENGINE=local` and no OpenAI endpoint (the local
    engine only), no learning service; it reads the window back from the transcript service
    (`GetSession`, `ListMessages`), scores it, stores the Say Meter and the suggestions, NOTIFYs, and
    its listener hands the analysis to the session's `WatchSession` streams.
  - a persona service holding the sample catalogue: CreateSession checks the session's persona there
    (during set-up, before anything is measured); a live analysis does not call it.
  - the load generator, in the benchmark's process: a gateway `StreamSession` stream and a
    `WatchSession` watcher per session.
- **Latency**: from the moment the gateway reads the ack of the message whose commit triggers the
  analysis (acks are sent after the commit) to the moment the session's watcher reads the analysis
  with its Say Meter. Both are read by the same process and timed with `time.perf_counter_ns` as their
  frame is read; each watcher event is matched to its trigger by the analysis's `window.last_sequence`
  (which the service sets to the triggering sequence N; its `trigger_id` `seq-N`, source `MESSAGE_COUNT`
  and engine `LOCAL` are checked too), not by order of arrival. Every watcher is subscribed (its first
  snapshot read, which the service sends only once the watcher is registered) before its session's first
  utterance is sent.
- **Idle**: {m['idle_analyses']} analyses, strictly one at a time on the whole system, over
  {m['idle_sessions']} sessions after a discarded warm-up session: a gateway sends {m['interval']} utterances, each
  after the previous one's ack, then waits for the watcher's analysis of the last one, then
  {m['idle_pause']} ms.
- **Live sessions**: {m['sessions']} sessions created through the API, each with a watcher and a gateway
  stream, on {m['channels']} channels per service. Sessions all start together, so session i first sends
  i mod {m['interval']} utterances at once (before the measured window), so that their analyses fall due at spread
  times rather than all within the same {m['utterance_interval']} s; the window starts once the analyses these
  trigger (the first reading, at the fourth message, of each session sent four or more) have reached their watchers.
  Until 2026-12-04 it started at once, and those analyses, still queued in the transcript outbox, were served in
  its first seconds ahead of the ones it measures. Then each stream sends an utterance every
  {m['utterance_interval']} s (staggered, open loop as in the transcript section: {m['rate']} utterances/s, so about
  {m['analysis_rate']} analyses/s) for {m['hold']} s, all of it measured. The streams then half-close and the
  benchmark waits up to {m['drain']} s for the last analyses. **No analysis lost**: for every session, every
  sequence acked at a multiple of {m['interval']} has its analysis at the watcher (none missing, none of a
  sequence not triggered, no watcher stream failed); missing ones are looked up in the database
  (stored or not, and the outbox row's state).
- **utterances/s** and **analyses/s**: acked, and received by watchers, in the measured window. CPU
  columns as in the transcript section (the analysis and the transcript services each on their own).
- **Parts of the latency**: each analysis's latency cut at two instants taken inside the services, both
  PostgreSQL `now()` (a transaction's start, wall clock, mapped onto the benchmark's `perf_counter_ns`
  by the offset between the two clocks, so to about a millisecond): the outbox dispatcher's claim of
  the request (its lease's end minus the {analysis.LEASE_SECONDS:g} s lease) and the insert of the Say Meter
  (its `create_time`). **ack -> claimed**: the request waiting in the outbox (negative when the claim
  starts before the gateway has read the ack); **claimed -> analysis inserted**: the wait for one of the
  dispatcher's call slots, the window's read, the call to `RequestAnalysis` up to its insert (trigger
  lookup, the curveballs' persona and scenario when not kept, scoring); **inserted -> at the watcher**: the
  insert's commit, its NOTIFY, the listener's read of the analysis, the watcher's stream. The analysis's own
  `latency` field (scoring, and a window read back) is a part of the second. Each part has its own
  percentiles: they do not add up across parts. **The slowest 1%**: the median of each part over the 1% of
  the analyses with the longest latency, and how often each service's event loop ran later than 50 ms and
  250 ms behind a 50 ms tick during the window (`sparring_event_loop_lag_seconds`, every service observes
  it), and what PostgreSQL's active sessions waited on (`pg_stat_activity`, sampled every 100 ms: the mean
  number of sessions on each wait event; `Lock:object` is the database-wide NOTIFY lock, `IO:WALSync` a
  commit's flush).

### Latency: commit of the triggering message to the Say Meter at the watcher

{md_table(LATENCY_HEADERS, latency_rows([idle, live]))}

{idle.name.capitalize()}: {idle.matched.describe()}; {idle.stored.describe()}.

Live sessions: {live.matched.describe()}; {live.stored.describe()}. Messages: {nothing_lost}.

### CPU

{md_table(CPU_HEADERS, cpu_rows([idle, live]))}

### Parts of the latency

{md_table(parts_headers([idle, live]), parts_rows([idle, live]))}

{_slow_claims(live)} {_tail(live)}.

### Targets

{report.target_lines(figures.targets)}
"""
