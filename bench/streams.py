"""Load on a StreamSession server: gateway streams that pipeline utterances and read their acks.

A ``GatewayStream`` is one call driven as a voice gateway drives it: ``open``, then utterances with
sequences 1, 2, 3... written in order, several in flight, each resolved when its ack arrives (acks come
in order, several to a frame). It checks what a gateway relies on: every ack is the next sequence
expected, none is a duplicate, the stream ends with OK.

Two ways to load streams:
- ``run_pipelined_load`` (saturation): each stream keeps up to ``window`` utterances unacked, sending the
  next as soon as an ack frees a slot; throughput counts the utterances sent in the measured window and
  acked, latency runs from the write to the ack;
- ``stream_calls`` adapts the streams to ``bench.load.run_open_load`` (a fixed rate, utterances sent at
  scheduled times, latency from the schedule, at most ``window`` unacked per stream).

And one way to open many: ``open_at_once`` starts every open at the same moment, as gateways reconnecting
after a network cut would, and sorts what each got: opened, or refused with which status. ``measure_burst``
holds a replica's whole bound of streams that way, measures the memory one idle stream costs it, checks the
opens beyond the bound are refused as they should be, and that every stream held still works (the
``streams`` part of a run; ``burst_section`` writes its section of ``docs/benchmarks.md``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc as pb_grpc

from bench import report
from bench.children import ChildProcess
from bench.load import DRAIN, Call, CpuSnapshot, Result, apply_cpu, percentile_ms, quiet_gc, sample_cpu

ROLES = (pb.ROLE_USER, pb.ROLE_ASSISTANT)
OPEN_WITHIN = 30.0  # seconds for a stream to be opened


class StreamFailed(Exception):
    """The stream broke the protocol or ended with an error; ``code`` says how."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


class GatewayStream:
    def __init__(self, channel: grpc.aio.Channel, session: str, texts: Sequence[str], offset: int = 0) -> None:
        self.session = session
        self._method = pb_grpc.TranscriptServiceStub(channel).StreamSession
        self._texts = texts
        self._offset = offset
        self._call: grpc.aio.StreamStreamCall | None = None
        self._reader: asyncio.Task | None = None
        self._waiting: deque[tuple[int, asyncio.Future]] = deque()  # (sequence, future of its ack time)
        self._write_lock = asyncio.Lock()
        self.window = 0
        self.next_sequence = 1
        self.acked = 0  # highest sequence acked
        self.duplicates = 0
        self.failure: StreamFailed | None = None

    @property
    def sent(self) -> int:
        return self.next_sequence - 1

    @property
    def in_flight(self) -> int:
        return len(self._waiting)

    async def open(self, window: int) -> None:
        """Opens the stream; the window is ``window`` or the server's max_in_flight, whichever is lower."""
        self._call = self._method()
        async with asyncio.timeout(OPEN_WITHIN):
            await self._call.write(pb.StreamSessionRequest(open=pb.StreamOpen(session=self.session)))
            reply = await self._call.read()
        if reply is grpc.aio.EOF or reply.WhichOneof("frame") != "opened":
            raise StreamFailed("NOT_OPENED", f"{self.session}: {reply!r}")
        self.window = min(window, reply.opened.max_in_flight or window)
        self.acked = reply.opened.last_durable_sequence
        self.next_sequence = self.acked + 1
        self._reader = asyncio.create_task(self._read())

    async def send(self) -> asyncio.Future:
        """Writes the next utterance; the future gives the ``time.perf_counter`` time its ack arrived (or raises
        StreamFailed)."""
        if self.failure is not None:
            raise self.failure
        async with self._write_lock:  # writes in sequence order, one at a time
            sequence = self.next_sequence
            self.next_sequence += 1
            future = asyncio.get_running_loop().create_future()
            self._waiting.append((sequence, future))
            text = self._texts[(self._offset + sequence) % len(self._texts)]
            now = time.time_ns()
            try:
                await self._call.write(pb.StreamSessionRequest(utterance=pb.Utterance(
                    sequence=sequence, role=ROLES[sequence % 2], text=text,
                    spoken_time=Timestamp(seconds=now // 1_000_000_000, nanos=now % 1_000_000_000))))
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError) as error:  # the call has ended
                failure = self.failure or StreamFailed("WRITE_FAILED", repr(error))
                self._fail(failure)
                raise failure from error
        return future

    async def _read(self) -> None:
        call = self._call
        try:
            while True:
                frame = await call.read()
                if frame is grpc.aio.EOF:
                    code = await call.code()
                    if code != grpc.StatusCode.OK:
                        raise StreamFailed(code.name, await call.details())
                    if self._waiting:
                        raise StreamFailed("UNACKED", f"{len(self._waiting)} utterances unacked at the end")
                    return
                if frame.WhichOneof("frame") != "acks":
                    continue  # commands: none are sent in a benchmark
                now = time.perf_counter()
                for ack in frame.acks.acks:
                    if not self._waiting:
                        raise StreamFailed("UNEXPECTED_ACK", f"ack {ack.sequence} with nothing in flight")
                    sequence, future = self._waiting.popleft()
                    if ack.sequence != sequence:
                        raise StreamFailed("ACK_OUT_OF_ORDER", f"ack {ack.sequence}, expected {sequence}")
                    self.acked = sequence
                    self.duplicates += ack.duplicate
                    if not future.done():
                        future.set_result(now)
        except grpc.aio.AioRpcError as error:
            self._fail(StreamFailed(error.code().name, error.details() or ""))
        except StreamFailed as error:
            self._fail(error)
            call.cancel()

    def _fail(self, error: StreamFailed) -> None:
        self.failure = error
        while self._waiting:
            _, future = self._waiting.popleft()
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: no "never retrieved" warning for the ones nobody awaits

    async def close(self, within: float = DRAIN) -> None:
        """Waits for the acks in flight, half-closes and waits for the end (OK), at most ``within`` seconds."""
        if self._call is None or self._reader is None:
            return
        try:
            async with asyncio.timeout(within):
                if self._waiting and self.failure is None:
                    await asyncio.wait([f for _, f in self._waiting])
                if self.failure is None:
                    async with self._write_lock:
                        await self._call.done_writing()
                await self._reader
        except TimeoutError:
            self._reader.cancel()
            self._call.cancel()
            self._fail(StreamFailed("CLOSE_TIMEOUT", f"not ended {within:g}s after half-close"))
        except grpc.aio.AioRpcError as error:
            self._reader.cancel()
            self._fail(StreamFailed(error.code().name, error.details() or ""))


async def open_streams(channels: Sequence[grpc.aio.Channel], sessions: Sequence[str], texts: Sequence[str],
                       window: int, concurrency: int = 50) -> list[GatewayStream]:
    """One stream per session, stream i on channel i % len(channels), opened ``concurrency`` at a time."""
    streams = [GatewayStream(channels[i % len(channels)], session, texts, offset=i * 7)
               for i, session in enumerate(sessions)]
    limit = asyncio.Semaphore(concurrency)

    async def one(stream: GatewayStream) -> None:
        async with limit:
            await stream.open(window)

    await asyncio.gather(*(one(s) for s in streams))
    return streams


async def close_streams(streams: Sequence[GatewayStream], within: float = DRAIN) -> None:
    await asyncio.gather(*(s.close(within) for s in streams))


def stream_calls(streams: Sequence[GatewayStream]) -> list[Call]:
    """One ``bench.load`` call per stream: send the next utterance, return when it is acked."""

    def call_of(stream: GatewayStream) -> Call:
        async def call(_counter: int) -> None:
            await (await stream.send())

        return call

    return [call_of(s) for s in streams]


def _count_failures(streams: Sequence[GatewayStream], errors: dict[str, int]) -> None:
    for stream in streams:
        if stream.failure is not None:
            errors[stream.failure.code] = errors.get(stream.failure.code, 0) + 1


@quiet_gc
async def run_pipelined_load(scenario: str, streams: Sequence[GatewayStream], warmup: float, duration: float,
                             server: ChildProcess | None = None, drain: float = DRAIN) -> Result:
    """Saturation: every stream sends whenever it has fewer than its window unacked. ``calls`` in the
    result are the utterances sent in the measured window and acked; ``errors`` counts failed streams."""
    start = time.perf_counter()
    measure_from = start + warmup
    measure_to = measure_from + duration
    latencies: list[float] = []
    snapshots: list[CpuSnapshot] = []

    async def pump(stream: GatewayStream) -> None:
        slots = asyncio.Semaphore(stream.window)
        record = latencies.append

        def acked(future: asyncio.Future, began: float) -> None:
            slots.release()
            if not future.cancelled() and future.exception() is None and began >= measure_from:
                record(future.result() - began)

        while stream.failure is None:
            await slots.acquire()
            began = time.perf_counter()
            if began >= measure_to:
                return
            try:
                future = await stream.send()
            except StreamFailed:
                return
            future.add_done_callback(lambda f, began=began: acked(f, began))

    await asyncio.gather(sample_cpu(measure_from, measure_to, server, snapshots), *(pump(s) for s in streams))
    await close_streams(streams, drain)
    errors: dict[str, int] = {}
    _count_failures(streams, errors)
    result = Result(scenario, calls=len(latencies), seconds=duration, latencies=latencies, errors=errors)
    apply_cpu(result, *snapshots)
    return result


# --- many streams opened at once ----------------------------------------------------------------------

BURST_SECTION = "## Transcript streams opened at once"
OPENED = "opened"
RETRYABLE = ("UNAVAILABLE", "RESOURCE_EXHAUSTED")  # a client may send the same open again, after the RetryInfo
TOO_MANY_STREAMS = "TOO_MANY_STREAMS"  # the reason of a refusal for a full replica
WARMUP_STREAMS = 100  # opened, used and closed before the memory baseline: one-time allocations stay out of it


@dataclass
class Burst:
    """What ``open_at_once`` got: the streams opened, and every open's answer."""

    opened: list[GatewayStream]
    answers: Counter[str]  # "opened", "CODE REASON" of a refusal, or what else ended the open
    clear_refusals: int  # refusals with a retryable code and a RetryInfo: the client knows to come back, and when
    latencies: list[float]  # seconds from the burst's start to each open's answer
    seconds: float  # from the burst's start to its last answer
    cpu: tuple[CpuSnapshot, CpuSnapshot]  # at the burst's start and at its last answer

    def cpu_ms_per_open(self, part: str) -> float:
        """CPU milliseconds per open of ``part`` ("server", "postgres" or "client") over the burst."""
        before, after = self.cpu
        return (getattr(after, part) - getattr(before, part)) * 1000 / self.count if self.count else float("nan")

    @property
    def machine_busy(self) -> float:
        before, after = self.cpu
        total = after.total - before.total
        return (after.busy - before.busy) / total if total else float("nan")

    @property
    def count(self) -> int:
        return sum(self.answers.values())

    @property
    def unclear(self) -> int:
        """Opens that ended neither opened nor with a clear refusal (INTERNAL, CANCELLED, no answer...)."""
        return self.count - len(self.opened) - self.clear_refusals

    def describe(self) -> str:
        return ", ".join(f"{count:,} {answer}" for answer, count in self.answers.most_common())


async def open_at_once(channels: Sequence[grpc.aio.Channel], sessions: Sequence[str], texts: Sequence[str],
                       window: int, server: ChildProcess) -> Burst:
    """Every session's open started at the same moment, stream i on channel i % len(channels)."""
    streams = [GatewayStream(channels[i % len(channels)], session, texts, offset=i * 7)
               for i, session in enumerate(sessions)]
    before = CpuSnapshot.take(server)
    start = time.perf_counter()

    async def answer_of(stream: GatewayStream) -> tuple[str, bool, float]:
        """(the answer, whether it is a clear refusal, when it came)"""
        try:
            await stream.open(window)
            answer, clear = OPENED, False
        except grpc.aio.AioRpcError as error:
            answer, clear = _refusal(error)
        except StreamFailed as failure:
            answer, clear = failure.code, False
        except TimeoutError:
            answer, clear = f"no answer in {OPEN_WITHIN:g} s", False
        return answer, clear, time.perf_counter() - start

    answers = await asyncio.gather(*(answer_of(s) for s in streams))
    return Burst(
        opened=[s for s, (answer, _, _) in zip(streams, answers, strict=True) if answer == OPENED],
        answers=Counter(answer for answer, _, _ in answers), clear_refusals=sum(clear for _, clear, _ in answers),
        latencies=[at for _, _, at in answers], seconds=max((at for _, _, at in answers), default=0.0),
        cpu=(before, CpuSnapshot.take(server)))


def _refusal(error: grpc.aio.AioRpcError) -> tuple[str, bool]:
    """("CODE REASON", whether the code is retryable and the status says when to retry)."""
    status = rpc_status.from_call(error)
    reason, retry_info = "", False
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        retry_info = retry_info or detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR)
    code = error.code().name
    answer = f"{code} {reason}" if reason else f"{code} ({error.details()})"
    return answer, code in RETRYABLE and retry_info


@dataclass
class BurstFigures:
    bound: int  # TRANSCRIPT_MAX_OPEN_STREAMS of the replica
    burst: Burst  # ``bound`` opens at once
    beyond: Burst  # more opens at once while the bound's streams are held
    rss_before: int  # bytes, the service's resident memory after the warm-up, no stream open
    rss_held: int  # bytes, with the burst's streams open and idle
    held_gauge: float  # the service's sparring_transcript_live_streams with them open
    refused_counter: float  # the service's sparring_transcript_streams_refused_total at the end
    acked: int  # held streams whose one utterance was acked
    ended_ok: int  # held streams that ended OK after their half-close
    method: dict[str, str]

    @property
    def bytes_per_stream(self) -> float:
        opened = len(self.burst.opened)
        return (self.rss_held - self.rss_before) / opened if opened else float("nan")

    def targets(self) -> list[report.Target]:
        both = [self.burst, self.beyond]
        unclear = sum(b.unclear for b in both)
        refused_beyond = self.beyond.answers[f"RESOURCE_EXHAUSTED {TOO_MANY_STREAMS}"]
        opened = len(self.burst.opened)
        return [
            report.Target(f"{self.bound:,} streams opened at once on one replica, all held",
                          opened == self.bound, f"{opened:,} opened in {self.burst.seconds:.1f} s: "
                          f"{self.burst.describe()}"),
            report.Target("every open answered: opened, or refused with UNAVAILABLE or RESOURCE_EXHAUSTED and a "
                          "RetryInfo (never INTERNAL, UNKNOWN, CANCELLED or no answer)", unclear == 0,
                          f"{unclear} of {sum(b.count for b in both):,} opens answered otherwise"),
            report.Target(f"the {self.beyond.count:,} opens beyond the bound refused with RESOURCE_EXHAUSTED "
                          f"{TOO_MANY_STREAMS} and a RetryInfo, the streams held untouched",
                          refused_beyond == self.beyond.count == self.beyond.clear_refusals
                          and self.refused_counter == refused_beyond,
                          f"{self.beyond.describe()}; refusals counted by the service: {self.refused_counter:,.0f}"),
            report.Target("every stream held acks an utterance, then ends OK", self.acked == self.ended_ok == opened,
                          f"{self.acked:,} acked, {self.ended_ok:,} ended OK, of {opened:,}"),
        ]



async def measure_burst(channels: Sequence[grpc.aio.Channel], server: ChildProcess, texts: Sequence[str], bound: int,
                        beyond: int, new_sessions: Callable[[str, int], Awaitable[list[str]]],
                        metric_samples: Callable[[], Awaitable[dict[str, float]]]) -> BurstFigures:
    """Warm-up, memory baseline, ``bound`` opens at once (all must be held), their memory, ``beyond`` opens more
    (all must be refused), an utterance on each stream held, then their half-close."""
    warmup = await open_at_once(channels, await new_sessions("warmup", WARMUP_STREAMS), texts, 1, server)
    await _use_and_close(warmup.opened)
    sessions = await new_sessions("burst", bound)
    extra = await new_sessions("beyond", beyond)
    rss_before = server.rss_bytes()
    burst = await open_at_once(channels, sessions, texts, 1, server)
    rss_held = server.rss_bytes()
    held_gauge = (await metric_samples()).get("sparring_transcript_live_streams", float("nan"))
    refused = await open_at_once(channels, extra, texts, 1, server)
    acked, ended_ok = await _use_and_close(burst.opened)
    refused_counter = (await metric_samples()).get("sparring_transcript_streams_refused_total", float("nan"))
    return BurstFigures(bound, burst, refused, rss_before, rss_held, held_gauge, refused_counter, acked, ended_ok,
                        method={"channels": str(len(channels)), "warmup": str(WARMUP_STREAMS),
                                "open_within": f"{OPEN_WITHIN:g}"})



async def _use_and_close(streams: Sequence[GatewayStream]) -> tuple[int, int]:
    """One utterance on each stream, then its half-close: (streams whose utterance was acked, streams ended OK)."""

    async def use(stream: GatewayStream) -> bool:
        try:
            await (await stream.send())
        except StreamFailed:
            return False
        return True

    acked = sum(await asyncio.gather(*(use(s) for s in streams)))
    await close_streams(streams)
    return acked, sum(s.failure is None for s in streams)


def _mib(value: int) -> str:
    return f"{value / 2**20:,.0f} MiB"


def burst_console(figures: BurstFigures) -> str:
    burst, beyond = figures.burst, figures.beyond
    return "\n".join([
        f"{burst.count:,} opens at once: {burst.describe()}; last answer after {burst.seconds:.1f} s "
        f"(p50 {percentile_ms(burst.latencies, 50):,.0f} ms, p99 {percentile_ms(burst.latencies, 99):,.0f} ms)",
        f"CPU per open: service {burst.cpu_ms_per_open('server'):.2f} ms, PostgreSQL "
        f"{burst.cpu_ms_per_open('postgres'):.2f} ms, load generator {burst.cpu_ms_per_open('client'):.2f} ms; "
        f"machine busy {report.fmt_pct(burst.machine_busy)}",
        f"{beyond.count:,} opens beyond: {beyond.describe()}; last answer after {beyond.seconds:.1f} s "
        f"(service CPU per refusal {beyond.cpu_ms_per_open('server'):.2f} ms)",
        f"service RSS {_mib(figures.rss_before)} before, {_mib(figures.rss_held)} with {len(burst.opened):,} idle "
        f"streams: {figures.bytes_per_stream / 1024:.1f} KiB per stream; gauge {figures.held_gauge:,.0f}",
    ])


def burst_section(figures: BurstFigures, when: datetime | None = None) -> str:
    m, burst, beyond = figures.method, figures.burst, figures.beyond
    rows = [[f"{b.count:,} at once{label}", f"{len(b.opened):,}", f"{b.clear_refusals:,}", f"{b.unclear:,}",
             f"{b.seconds:.1f}", *(f"{percentile_ms(b.latencies, q):,.0f}" for q in (50, 99, 100)),
             *(f"{b.cpu_ms_per_open(part):.2f}" for part in ("server", "postgres", "client")),
             report.fmt_pct(b.machine_busy), b.describe()]
            for b, label in ((burst, ""), (beyond, ", the bound's streams held"))]
    table = report.md_table(["opens", "opened", "refused, retryable with RetryInfo", "other answers",
                             "last answer s", "p50 ms", "p99 ms", "max ms", "service CPU ms/open",
                             "PostgreSQL CPU ms/open", "client CPU ms/open", "machine busy", "answers"], rows)
    return f"""{BURST_SECTION}

{report.machine_block(when or datetime.now(UTC))}

### Method

- `python -m transcript_svc` as in production (`LOG_LEVEL=WARNING`, its default database pool),
  `TRANSCRIPT_MAX_OPEN_STREAMS={figures.bound}`, on the benchmark's embedded PostgreSQL, in a database of this
  part's own; sessions inserted straight into `transcript.sessions`. The load generator, in the
  benchmark's process, talks to it over {m['channels']} channels (TCP connections) on 127.0.0.1.
- Warm-up: {m['warmup']} streams opened at once, one utterance each, closed. Then the service's resident
  memory (`VmRSS`) is read, no stream open.
- **{figures.bound:,} at once**: every open (`StreamSession`, first frame `open`) started at the same moment,
  stream i on channel i mod {m['channels']}, as gateways reconnecting together after a network cut. An open
  is **opened** when its `opened` frame arrives; **refused, retryable** when it ends `UNAVAILABLE` or
  `RESOURCE_EXHAUSTED` with a `google.rpc.RetryInfo`; anything else (`INTERNAL`, `CANCELLED`, no answer
  within {m['open_within']} s...) is an **other answer**. Latency: from the burst's start to each open's answer.
  With all of them open and idle the resident memory is read again.
- **Beyond the bound**: with those streams held, {beyond.count:,} more opens at once, each of which must be refused
  (`RESOURCE_EXHAUSTED`, reason `TOO_MANY_STREAMS`, with a RetryInfo) before it reaches the database.
- Then every stream held sends one utterance and waits for its ack, half-closes and must end OK.
- CPU columns: CPU time over the burst (its start to its last answer) of the service process (all its
  threads), of the benchmark's PostgreSQL and of the load generator, divided by the opens; and the share
  of all cores busy.

### Opens

{table}

The opens are answered at the pace of the service's event loop, which takes each call from grpc core,
opens it in a transaction of its own and writes its first frame: the service's CPU per open times the
opens is about the last answer's time. Calls wait in grpc core meanwhile; past 1,000 waiting calls, grpc's
default, core cancelled them before the service saw them, which a Python client still writing its `open`
frame reads as `INTERNAL` ("Internal error from Core"), other clients as `CANCELLED`, and the service
logged nothing. `svckit/server.py` now lets up to 20,000 wait, so that every open gets the service's own
answer: opened, or refused with a status that says when to come back.

### Memory of an idle stream

Resident memory of the service: {_mib(figures.rss_before)} with no stream open, {_mib(figures.rss_held)} with
{len(burst.opened):,} idle streams open: **{figures.bytes_per_stream / 1024:.1f} KiB per stream** (the difference
divided by the streams; Python's allocator keeps some of what the opens used on the way, so this is an upper
bound). The service's gauge `sparring_transcript_live_streams` read {figures.held_gauge:,.0f} then. Size
`TRANSCRIPT_MAX_OPEN_STREAMS` from it and the memory a replica may use.

### Targets

{report.target_lines(figures.targets())}
"""
