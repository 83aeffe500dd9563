"""The analysis service under load: its processes, gateways whose acks are timed, watchers, the checks.

- the transcript service (``python -m transcript_svc``) hands every analysis that falls due (every N durable
  messages) to the analysis service through its outbox;
- the analysis service (``python -m analysis_svc``), one replica, the local engine, reads the window back from
  the transcript service, scores it, stores it and announces it to the session's watchers;
- in the benchmark's process: a gateway stream per session (``TimedStream``: each ack timed with
  ``time.perf_counter_ns`` as its frame is read) and a ``WatchSession`` watcher per session (``Watcher``: each
  analysis timed the same way, keyed by its window's last sequence, the sequence that triggered it).

The latency of one analysis is watcher arrival minus the ack of its triggering message, both read by this one
process on one clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import statistics
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
from sparring.analysis.v1 import analysis_service_pb2 as apb
from sparring.analysis.v1 import analysis_service_pb2_grpc as apb_grpc
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as tpb
from sparring.transcript.v1 import transcript_service_pb2_grpc as tpb_grpc

from bench import services
from bench.children import free_port
from bench.streams import OPEN_WITHIN, GatewayStream
from bench.transcript import Started, metric_families
from svckit.notify import libpq_url
from svckit.outbox import OutboxDispatcher
from transcript_svc.config import TranscriptSettings
from transcript_svc.domain.model import analysis_due

ANALYSIS_SERVICE_NAME = apb.DESCRIPTOR.services_by_name["AnalysisService"].full_name
TRANSCRIPT_SERVICE_NAME = tpb.DESCRIPTOR.services_by_name["TranscriptService"].full_name
ANALYSIS_INTERVAL: int = TranscriptSettings.model_fields["analysis_interval"].default


# --- processes ----------------------------------------------------------------------------------------


def start_services(root: Path, database_url: str, log_dir: Path, persona_address: str,
                   transcript_profile: Path | None = None,
                   analysis_profile: Path | None = None) -> tuple[Started, Started]:
    """The transcript service wired to the analysis service and back, on free ports; the analysis service with
    the local engine only and no learning service; both read personas at ``persona_address``.
    Returns (transcript, analysis); the transcript service starts first (it migrates its schema)."""
    analysis_port = free_port()
    analysis_address = f"127.0.0.1:{analysis_port}"
    transcript_metrics = free_port()
    transcript_child, transcript_address = services.start_service(
        "transcript_svc", "TRANSCRIPT", root, database_url, log_dir / "transcript-with-analysis.log",
        transcript_profile,
        env={"TRANSCRIPT_ANALYSIS_ADDRESS": analysis_address, "TRANSCRIPT_ANALYSIS_INTERVAL": None,
             "TRANSCRIPT_MAX_IN_FLIGHT": None, "TRANSCRIPT_COMMIT_MAX_BATCH": None,
             "TRANSCRIPT_COMMIT_MAX_DELAY_MS": None, "TRANSCRIPT_METRICS_PORT": str(transcript_metrics),
             "TRANSCRIPT_PERSONA_ADDRESS": persona_address},
        name="transcript service (with analysis)")
    analysis_metrics = free_port()
    analysis_child, _ = services.start_service(
        "analysis_svc", "ANALYSIS", root, database_url, log_dir / "analysis.log", analysis_profile,
        env={"ANALYSIS_GRPC_PORT": str(analysis_port), "ANALYSIS_METRICS_PORT": str(analysis_metrics),
             "ANALYSIS_TRANSCRIPT_ADDRESS": transcript_address, "ANALYSIS_ENGINE": "local",
             "ANALYSIS_OPENAI_BASE_URL": None, "ANALYSIS_LEARNING_ADDRESS": None,
             "ANALYSIS_PERSONA_ADDRESS": persona_address},
        name="analysis service")
    return (Started(transcript_child, transcript_address, transcript_metrics),
            Started(analysis_child, analysis_address, analysis_metrics))


async def wait_ready(transcript: Started, analysis: Started, transcript_channel: grpc.aio.Channel,
                     analysis_channel: grpc.aio.Channel) -> None:
    await asyncio.gather(services.wait_healthy(transcript.child, transcript_channel, TRANSCRIPT_SERVICE_NAME),
                         services.wait_healthy(analysis.child, analysis_channel, ANALYSIS_SERVICE_NAME))


async def create_sessions(channel: grpc.aio.Channel, label: str, count: int, interval: int,
                          concurrency: int = 20) -> list[str]:
    """Sessions created through the API with an analysis every ``interval`` messages; returns their names."""
    stub = tpb_grpc.TranscriptServiceStub(channel)
    run = uuid.uuid4().hex[:6]
    limit = asyncio.Semaphore(concurrency)

    async def one(index: int) -> str:
        async with limit:
            reply = await stub.CreateSession(tpb.CreateSessionRequest(session=tpb.Session(
                persona="personas/sarah-chen", scenario="scenarios/q2-cost-reduction",
                blueprint=persona_pb.BLUEPRINT_SALES, analysis_interval=interval),
                session_id=f"bench-{label}-{run}-{index}"), timeout=30)
            return reply.session.name

    return list(await asyncio.gather(*(one(i) for i in range(count))))


# --- the two ends of one analysis -----------------------------------------------------------------------


class _TimedCall:
    """A StreamSession call whose ``read`` notes, as it returns an acks frame, ``perf_counter_ns`` for each
    acked sequence that triggers an analysis; everything else is the call's own."""

    def __init__(self, call: grpc.aio.StreamStreamCall, stamps: dict[int, int], interval: int) -> None:
        self._call = call
        self._stamps = stamps
        self._interval = interval

    async def read(self):
        frame = await self._call.read()
        if frame is not grpc.aio.EOF and frame.WhichOneof("frame") == "acks":
            now = time.perf_counter_ns()
            for ack in frame.acks.acks:
                if analysis_due(ack.sequence - 1, ack.sequence, self._interval):
                    self._stamps.setdefault(ack.sequence, now)
        return frame

    def __getattr__(self, name: str):
        return getattr(self._call, name)


class TimedStream(GatewayStream):
    """A gateway stream (``bench.streams``) that times the ack of every message that triggers an analysis:
    ``ack_ns[sequence]``, taken as the frame is read, before anything waiting on the ack runs."""

    def __init__(self, channel: grpc.aio.Channel, session: str, texts: Sequence[str], interval: int,
                 offset: int = 0) -> None:
        super().__init__(channel, session, texts, offset)
        self.interval = interval
        self.ack_ns: dict[int, int] = {}
        start = self._method
        self._method = lambda: _TimedCall(start(), self.ack_ns, interval)

    def due(self) -> set[int]:
        """The sequences acked so far that trigger an analysis."""
        return set(analysis_due(0, self.acked, self.interval))


class Watcher:
    """One ``WatchSession`` stream: ``open`` returns once the first snapshot is read, so the service has
    registered the watcher (it does so before reading the snapshot) and any analysis stored later reaches it.
    Each analysis is keyed by its ``window.last_sequence`` (the triggering sequence) and timed with
    ``perf_counter_ns`` as it is read."""

    def __init__(self, channel: grpc.aio.Channel, session: str) -> None:
        self.session = session
        self._stub = apb_grpc.AnalysisServiceStub(channel)
        self._call: grpc.aio.UnaryStreamCall | None = None
        self._reader: asyncio.Task | None = None
        self._closing = False
        self._arrival = asyncio.Event()
        self.arrived_ns: dict[int, int] = {}  # window.last_sequence -> when its event was read
        self.engine_ms: dict[int, float] = {}  # the analysis's own latency field (window read and scoring)
        # The analysis's create_time (the database's clock as it stored the reading), in ns since the epoch.
        self.stored_ns: dict[int, int] = {}
        self.resynced: set[int] = set()  # seen only in a resync snapshot's score history
        self.resyncs = 0
        self.repeats = 0  # an analysis of a sequence already received
        self.odd: list[str] = []  # analyses whose trigger, source or engine are not what the trigger implies
        self.failure: str | None = None

    async def open(self) -> None:
        self._call = self._stub.WatchSession(apb.WatchSessionRequest(session=self.session))
        async with asyncio.timeout(OPEN_WITHIN):
            first = await self._call.read()
        if first is grpc.aio.EOF or first.WhichOneof("event") != "snapshot":
            raise RuntimeError(f"WatchSession {self.session}: no snapshot first ({first!r})")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        call = self._call
        assert call is not None
        try:
            while True:
                event = await call.read()
                now = time.perf_counter_ns()
                if event is grpc.aio.EOF:
                    code = await call.code()
                    if not self._closing:
                        self.failure = f"ended {code.name}: {await call.details()}"
                    return
                kind = event.WhichOneof("event")
                if kind == "analysis":
                    self._analysis(event.analysis, now)
                elif kind == "snapshot":
                    self.resyncs += 1
                    self.resynced.update(p.last_sequence for p in event.snapshot.score_history
                                         if p.last_sequence not in self.arrived_ns)
        except grpc.aio.AioRpcError as error:
            if not self._closing:
                self.failure = f"{error.code().name}: {error.details()}"

    def _analysis(self, analysis: apb.Analysis, now: int) -> None:
        sequence = analysis.window.last_sequence
        if sequence in self.arrived_ns:
            self.repeats += 1
            return
        self.arrived_ns[sequence] = now
        latency = analysis.latency
        self.engine_ms[sequence] = latency.seconds * 1000 + latency.nanos / 1e6
        self.stored_ns[sequence] = analysis.create_time.ToNanoseconds()
        if (analysis.trigger.trigger_id != f"seq-{sequence}" or analysis.engine != apb.ENGINE_LOCAL
                or analysis.trigger.source != apb.TRIGGER_SOURCE_MESSAGE_COUNT
                or analysis.say_meter.band == apb.SCORE_BAND_UNSPECIFIED):
            self.odd.append(f"{self.session} window ..{sequence}: trigger {analysis.trigger.trigger_id!r}, "
                            f"source {analysis.trigger.source}, engine {analysis.engine}")
        self._arrival.set()

    async def wait_for(self, sequences: Iterable[int], within: float) -> bool:
        """Until every one of ``sequences`` has arrived (True) or ``within`` seconds pass (False)."""
        wanted = set(sequences)
        deadline = time.monotonic() + within
        while not wanted <= self.arrived_ns.keys():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._reader is None or self._reader.done():
                return False
            self._arrival.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrival.wait(), remaining)
        return True

    async def close(self) -> None:
        self._closing = True
        if self._call is not None:
            self._call.cancel()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


async def open_watchers(channels: Sequence[grpc.aio.Channel], sessions: Sequence[str],
                        concurrency: int = 50) -> list[Watcher]:
    """A watcher per session, watcher i on channel i % len(channels), each subscribed (snapshot read)."""
    watchers = [Watcher(channels[i % len(channels)], s) for i, s in enumerate(sessions)]
    limit = asyncio.Semaphore(concurrency)

    async def one(watcher: Watcher) -> None:
        async with limit:
            await watcher.open()

    await asyncio.gather(*(one(w) for w in watchers))
    return watchers


async def open_timed_streams(channels: Sequence[grpc.aio.Channel], sessions: Sequence[str], texts: Sequence[str],
                             window: int, interval: int, concurrency: int = 50) -> list[TimedStream]:
    streams = [TimedStream(channels[i % len(channels)], s, texts, interval, offset=i * 7)
               for i, s in enumerate(sessions)]
    limit = asyncio.Semaphore(concurrency)

    async def one(stream: TimedStream) -> None:
        async with limit:
            await stream.open(window)

    await asyncio.gather(*(one(s) for s in streams))
    return streams


async def wait_all(pairs: Sequence[tuple[TimedStream, Watcher]], within: float) -> bool:
    """Until every watcher has every analysis its stream's acks triggered, or ``within`` seconds pass."""
    done = await asyncio.gather(*(w.wait_for(s.due(), within) for s, w in pairs))
    return all(done)


# --- what arrived ---------------------------------------------------------------------------------------


@dataclass
class Matched:
    """The analyses of a set of sessions, each matched to its trigger by sequence."""

    sessions: int
    expected: int  # triggering messages acked
    received: int  # of those, analyses read by their session's watcher
    latencies_ms: list[float]  # ack of the trigger -> the analysis at the watcher, one per received analysis
    engine_ms: list[float]  # the analyses' own latency field
    missing: list[tuple[str, int]]  # (session, sequence) acked, analysis never seen by the watcher
    resynced: int  # among the missing: seen in a resync snapshot only
    unexpected: int  # analyses of a sequence no ack triggered
    repeats: int
    resyncs: int
    odd: list[str]
    failed_watchers: list[str]
    arrivals_ns: list[int] = field(default_factory=list)  # arrival times of the received ones

    @property
    def passed(self) -> bool:
        return (not self.missing and not self.unexpected and not self.failed_watchers and not self.odd
                and self.received == self.expected)

    def describe(self) -> str:
        text = (f"{self.sessions:,} sessions: {self.expected:,} analyses triggered (messages acked at a multiple of "
                f"the interval), {self.received:,} received by their watcher, {len(self.missing):,} missing")
        if self.resynced:
            text += f" ({self.resynced:,} of them seen only in a resync snapshot)"
        if self.unexpected:
            text += f", {self.unexpected:,} analyses of an untriggered sequence"
        if self.repeats:
            text += f", {self.repeats:,} received twice"
        if self.resyncs:
            text += f", {self.resyncs:,} resync snapshots"
        if self.odd:
            text += f", {len(self.odd):,} with a trigger, source or engine other than expected"
        if self.failed_watchers:
            text += f", {len(self.failed_watchers):,} watcher streams failed"
        return text


def match(pairs: Sequence[tuple[TimedStream, Watcher]], since_ns: int = 0) -> Matched:
    """Matches every watcher's analyses to its stream's trigger acks by sequence (not by arrival order).
    ``since_ns``: only triggers acked from then on (an earlier warm-up's are left out)."""
    latencies, engine, arrivals, missing, odd, failed = [], [], [], [], [], []
    expected = unexpected = repeats = resyncs = resynced = 0
    for stream, watcher in pairs:
        due = {s for s in stream.due() if stream.ack_ns.get(s, 0) >= since_ns}
        expected += len(due)
        for sequence in sorted(due):
            arrived = watcher.arrived_ns.get(sequence)
            if arrived is None:
                missing.append((stream.session, sequence))
                resynced += sequence in watcher.resynced
                continue
            latencies.append((arrived - stream.ack_ns[sequence]) / 1e6)
            engine.append(watcher.engine_ms[sequence])
            arrivals.append(arrived)
        unexpected += len(set(watcher.arrived_ns) - stream.due())
        repeats += watcher.repeats
        resyncs += watcher.resyncs
        odd.extend(watcher.odd)
        if watcher.failure is not None:
            failed.append(f"{watcher.session}: {watcher.failure}")
    return Matched(len(pairs), expected, len(latencies), latencies, engine, missing, resynced, unexpected, repeats,
                   resyncs, odd, failed, arrivals)


LEASE_SECONDS: float = inspect.signature(OutboxDispatcher).parameters["lease_seconds"].default
# The transcript outbox's dispatcher keeps the default lease; a claim sets next_attempt_time = now() + lease.


@dataclass
class Stored:
    """The database's view of the sessions' analyses, for telling where a missing one stopped, and the times
    (PostgreSQL's ``now()``, wall clock, ns) at which each stored one was claimed from the outbox and inserted."""

    analyses: int  # Say Meters stored
    outbox: dict[str, int]  # analysis requests in the transcript outbox, by state
    not_stored: list[tuple[str, int]]  # missing at the watcher and not stored either
    outbox_errors: list[str]  # last errors of requests not done
    times: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)  # -> (claimed, inserted)

    def describe(self) -> str:
        states = ", ".join(f"{count:,} {state}" for state, count in sorted(self.outbox.items())) or "none"
        return f"{self.analyses:,} analyses stored; outbox requests: {states}"


async def stored(database_url: str, sessions: Sequence[str], missing: Sequence[tuple[str, int]]) -> Stored:
    ids = [s.removeprefix("sessions/") for s in sessions]
    connection = await asyncpg.connect(libpq_url(database_url), timeout=10)
    try:
        analyses = await connection.fetch(
            """
            SELECT v.session_id, v.window_last,
                   (extract(epoch FROM v.create_time) * 1e6)::bigint AS inserted_us,
                   (extract(epoch FROM o.next_attempt_time) * 1e6)::bigint AS lease_end_us
            FROM analysis.voice_analysis v
            LEFT JOIN transcript.outbox o ON o.kind = 'analysis' AND o.session_id = v.session_id
                 AND o.up_to_sequence = v.window_last AND o.state = 'done'
            WHERE v.kind = 'say_meter' AND v.session_id = ANY($1::text[])
            """, ids)
        outbox = await connection.fetch(
            "SELECT state, count(*) AS n FROM transcript.outbox WHERE kind = 'analysis' "
            "AND session_id = ANY($1::text[]) GROUP BY state", ids)
        errors = await connection.fetch(
            "SELECT session_id, up_to_sequence, state, attempts, last_error FROM transcript.outbox "
            "WHERE kind = 'analysis' AND state <> 'done' AND session_id = ANY($1::text[]) ORDER BY id LIMIT 20", ids)
    finally:
        await connection.close()
    have = {(f"sessions/{r['session_id']}", r["window_last"]) for r in analyses}
    lease_us = round(LEASE_SECONDS * 1e6)
    times = {(f"sessions/{r['session_id']}", r["window_last"]): ((r["lease_end_us"] - lease_us) * 1000,
                                                                  r["inserted_us"] * 1000)
             for r in analyses if r["lease_end_us"] is not None}
    return Stored(len(analyses), {r["state"]: r["n"] for r in outbox}, [m for m in missing if m not in have],
                  [f"sessions/{r['session_id']} seq {r['up_to_sequence']}: {r['state']} after {r['attempts']} "
                   f"attempts {r['last_error']!r}" for r in errors], times)


def slowest_parts(cut: dict[str, list[float]], share: float = 0.01) -> dict[str, float]:
    """The median of each part (ms) over the slowest ``share`` of the analyses ``stages`` cut (by their total): where
    the tail's time went."""
    totals = [sum(parts) for parts in zip(*cut.values(), strict=True)]
    if not totals:
        return {}
    slowest = sorted(range(len(totals)), key=totals.__getitem__)[-max(1, round(len(totals) * share)):]
    return {name: statistics.median(values[i] for i in slowest) for name, values in cut.items()}


async def loop_lags(metrics_port: int | None) -> dict[float, float]:
    """The service's event-loop lags so far (``svckit.eventloop.LOOP_LAG_SECONDS``): cumulative counts by upper
    bound in seconds (none without a port or if it does not answer)."""
    return {float(sample.labels["le"]): sample.value for family in await metric_families(metrics_port)
            if family.name == "sparring_event_loop_lag_seconds"
            for sample in family.samples if sample.name.endswith("_bucket")}


class WaitSampler:
    """What the services' PostgreSQL sessions are waiting on, sampled every ``every`` seconds while it runs: the
    count of (session, wait event) seen, by event ("CPU" when a statement runs without waiting). A lock convoy
    shows as ``Lock:object`` (the database-wide NOTIFY lock) or ``LWLock:*``, slow commits as ``IO:WALSync``."""

    def __init__(self, database_url: str, every: float = 0.1) -> None:
        self._url = libpq_url(database_url)
        self._every = every
        self.counts: dict[str, int] = {}
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        connection = await asyncpg.connect(self._url, timeout=10)
        self._task = asyncio.create_task(self._run(connection))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, connection: asyncpg.Connection) -> None:
        try:
            while True:
                for row in await connection.fetch(
                        "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS event, count(*) AS n "
                        "FROM pg_stat_activity WHERE state = 'active' AND backend_type = 'client backend' "
                        "AND pid <> pg_backend_pid() GROUP BY 1"):
                    self.counts[row["event"]] = self.counts.get(row["event"], 0) + row["n"]
                self.samples += 1
                await asyncio.sleep(self._every)  # the sampling period, not synchronisation
        finally:
            await connection.close()

    def describe(self, top: int = 6) -> str:
        ranked = sorted(self.counts.items(), key=lambda item: -item[1])[:top]
        return ", ".join(f"{event} {n / max(1, self.samples):.2f}" for event, n in ranked)


STAGES = ("ack -> claimed from the outbox", "claimed -> analysis inserted", "inserted -> at the watcher")


def stages(pairs: Sequence[tuple[TimedStream, Watcher]], db: Stored, wall_minus_perf_ns: int,
           since_ns: int = 0) -> dict[str, list[float]]:
    """Each received analysis's latency cut in three (ms) at two instants taken inside the services: its outbox
    row's claim (the claim's ``now()``: the lease's end minus the lease) and its insert (the row's
    ``create_time``), both PostgreSQL transaction starts, on the wall clock, mapped onto this process's
    ``perf_counter_ns`` by ``wall_minus_perf_ns``. The three add up to the latency."""
    cut: dict[str, list[float]] = {name: [] for name in STAGES}
    for stream, watcher in pairs:
        for sequence, acked in stream.ack_ns.items():
            arrived = watcher.arrived_ns.get(sequence)
            times = db.times.get((stream.session, sequence))
            if arrived is None or times is None or acked < since_ns:
                continue
            claimed, inserted = (t - wall_minus_perf_ns for t in times)
            for name, (begin, end) in zip(STAGES, ((acked, claimed), (claimed, inserted), (inserted, arrived)),
                                          strict=True):
                cut[name].append((end - begin) / 1e6)
    return cut
