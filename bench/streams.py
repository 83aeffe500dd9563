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
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc as pb_grpc

from bench.children import ChildProcess
from bench.load import DRAIN, Call, CpuSnapshot, Result, apply_cpu, quiet_gc, sample_cpu

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
