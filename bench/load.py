"""Load: N clients (asyncio tasks) spread over a few channels, in closed loop or in open loop.

Closed loop (``run_load``), for throughput: each client calls back to back. A run lasts ``warmup + duration``
seconds; calls that start during the warm-up are discarded, calls that start in the measured window are
counted (throughput = their number / the window) and their latencies kept.

Open loop (``run_open_load``), for latency at a given load: a fixed rate of calls, spread evenly over the
clients, each call sent at its scheduled time (or as soon as possible after it, if the client is behind or
already has its maximum of calls outstanding). Latency counts from the scheduled time, so a slow server or
a late client shows in the figures instead of quietly lowering the load (coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ParamSpec, TypeVar

import grpc

from bench.children import ChildProcess
from bench.security import SECURE, Mode

# Distinct channels must not share one TCP connection (grpc's global subchannel pool would merge them).
CHANNEL_OPTIONS = (("grpc.use_local_subchannel_pool", 1),)
LATE_AFTER = 0.002  # open loop: a call sent more than this after its scheduled time counts as late (seconds)
DRAIN = 2.0  # open loop: seconds after the window before unsent or unanswered calls are given up

P = ParamSpec("P")
T = TypeVar("T")
Call = Callable[[int], Awaitable[object]]
"""One request; the argument is a per-client counter, for picking varied requests."""


def open_channels(address: str, count: int, mode: Mode = SECURE) -> list[grpc.aio.Channel]:
    """``count`` channels to a server of ``mode``, each its own TCP connection, carrying the benchmark caller's
    token when ``mode`` is secure."""
    if not address.startswith("127.0.0.1:"):
        raise ValueError(f"the benchmark only talks to 127.0.0.1, not {address}")
    return [mode.channel(address, options=CHANNEL_OPTIONS) for _ in range(count)]


def percentile_ms(latencies: list[float], q: float) -> float:
    """Nearest-rank percentile in milliseconds (``q`` = 100: the maximum)."""
    if not latencies:
        return float("nan")
    ordered = sorted(latencies)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] * 1000


@dataclass
class Result:
    """Closed loop: one scenario at saturation."""

    scenario: str
    calls: int
    seconds: float
    latencies: list[float]
    errors: dict[str, int] = field(default_factory=dict)
    server_cpu: float = float("nan")  # CPU seconds of the server process per wall second (1.0 = one core)
    client_cpu: float = float("nan")  # same for this (load generator) process
    machine_busy: float = float("nan")  # share of all cores busy over the window, 0..1
    postgres_cpu: float = float("nan")  # the benchmark's PostgreSQL, all its processes (see watch_postgres)
    other_cpu: float = float("nan")  # everything else busy on the machine: other processes, the kernel
    server_threads: list[tuple[str, float]] = field(default_factory=list)  # (thread, CPU per wall second)
    server_waits: float = float("nan")  # the server's main thread leaving its core to wait, per wall second
    server_preemptions: float = float("nan")  # ... and made to leave it for another thread, per wall second
    round_rates: list[float] = field(default_factory=list)  # calls/s of each round, when merged from rounds

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return percentile_ms(self.latencies, q)

    @property
    def server_cpu_per_call_us(self) -> float:
        """CPU time the server process spent per call, in microseconds (all its threads)."""
        return self.server_cpu / self.rate * 1e6 if self.rate else float("nan")

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


@dataclass
class OpenResult:
    """Open loop: one scenario at a fixed offered rate. Counts are of the calls scheduled in the window."""

    scenario: str
    offered: float  # calls/s
    seconds: float
    latencies: list[float] = field(default_factory=list)  # from the scheduled time; see ``unsent``, ``unfinished``
    completed: int = 0  # answered without error
    answered_in_window: int = 0  # calls (whenever scheduled) answered without error during the window
    late: int = 0  # sent more than LATE_AFTER after their scheduled time (held ones included)
    held: int = 0  # found their client at its limit of outstanding calls, so waited for one to end
    unsent: int = 0  # never sent: still held at the cutoff (in ``latencies`` with the time waited by then)
    unfinished: int = 0  # sent, not answered by the cutoff (cancelled; same)
    errors: dict[str, int] = field(default_factory=dict)
    server_cpu: float = float("nan")
    client_cpu: float = float("nan")
    machine_busy: float = float("nan")
    postgres_cpu: float = float("nan")
    other_cpu: float = float("nan")
    server_threads: list[tuple[str, float]] = field(default_factory=list)
    server_waits: float = float("nan")
    server_preemptions: float = float("nan")

    @property
    def rate(self) -> float:
        """Achieved: calls answered without error during the window / the window."""
        return self.answered_in_window / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return percentile_ms(self.latencies, q)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


_TICK = os.sysconf("SC_CLK_TCK")
_postgres_pid: list[int] = []  # the benchmark's postmaster, once watch_postgres is called


def watch_postgres(data_dir: Path) -> None:
    """From now on, measurements count the CPU of the PostgreSQL whose data is in ``data_dir``."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        _postgres_pid[:] = [int((data_dir / "postmaster.pid").read_text().split()[0])]


def _postgres_seconds() -> float:
    """CPU time so far of the watched postmaster, its live children and its exited ones (cutime, cstime)."""
    if not _postgres_pid:
        return float("nan")
    postmaster = _postgres_pid[0]
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            pid = int(stat.parent.name)
            if pid == postmaster:
                ticks += sum(int(f) for f in fields[11:15])
            elif int(fields[1]) == postmaster:
                ticks += int(fields[11]) + int(fields[12])
    return ticks / _TICK


@dataclass
class CpuSnapshot:
    wall: float
    client: float
    busy: int
    total: int
    postgres: float
    server: float = float("nan")
    threads: dict[int, tuple[str, float]] = field(default_factory=dict)
    switches: tuple[int, int] = (0, 0)  # the server's main thread: voluntary, preempted

    @classmethod
    def take(cls, server: ChildProcess | None) -> CpuSnapshot:
        busy, total = _machine_ticks()
        snapshot = cls(time.monotonic(), time.process_time(), busy, total, _postgres_seconds())
        if server is not None:
            snapshot.server = server.cpu_seconds()
            snapshot.threads = server.thread_cpu_seconds()
            snapshot.switches = server.main_thread_switches()
        return snapshot


async def sample_cpu(measure_from: float, measure_to: float, server: ChildProcess | None,
                      into: list[CpuSnapshot]) -> None:
    """A snapshot at ``measure_from`` and one at ``measure_to`` (``time.perf_counter`` times)."""
    await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
    into.append(CpuSnapshot.take(server))
    await asyncio.sleep(max(0.0, measure_to - time.perf_counter()))
    into.append(CpuSnapshot.take(server))


def apply_cpu(result: Result | OpenResult, before: CpuSnapshot, after: CpuSnapshot,
              client_cpu: float | None = None) -> None:
    """``client_cpu``: the load generator's CPU per wall second, when it is not this process."""
    wall = after.wall - before.wall
    if wall <= 0:
        return
    result.client_cpu = (after.client - before.client) / wall if client_cpu is None else client_cpu
    result.server_cpu = (after.server - before.server) / wall
    busy = [(f"{name}/{tid}", (cpu - before.threads.get(tid, (name, 0.0))[1]) / wall)
            for tid, (name, cpu) in after.threads.items()]
    result.server_threads = sorted((t for t in busy if t[1] >= 0.005), key=lambda t: -t[1])
    result.server_waits = (after.switches[0] - before.switches[0]) / wall
    result.server_preemptions = (after.switches[1] - before.switches[1]) / wall
    result.postgres_cpu = (after.postgres - before.postgres) / wall
    total = after.total - before.total
    if total:
        result.machine_busy = (after.busy - before.busy) / total
        busy_cores = (after.busy - before.busy) / _TICK / wall
        other = busy_cores - result.server_cpu - result.client_cpu - result.postgres_cpu
        result.other_cpu = other if math.isnan(other) else max(0.0, other)


def quiet_gc(measure: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Keeps the load generator's own garbage collector out of a measurement: everything alive when it starts
    is frozen (never scanned again), so no long full collection stalls the clients mid-window and shows as
    server latency; unfrozen after."""

    @functools.wraps(measure)
    async def measured(*args: P.args, **kwargs: P.kwargs) -> T:
        gc.collect()
        gc.freeze()
        try:
            return await measure(*args, **kwargs)
        finally:
            gc.unfreeze()

    return measured


@quiet_gc
async def run_load(scenario: str, calls: list[Call], clients: int, warmup: float, duration: float,
                   server: ChildProcess | None = None) -> Result:
    """Closed loop. ``calls[i % len(calls)]`` is client i's call (one per channel, so clients spread over
    the channels)."""
    start = time.perf_counter()
    measure_from = start + warmup
    measure_to = measure_from + duration
    latencies: list[float] = []
    errors: dict[str, int] = {}
    snapshots: list[CpuSnapshot] = []

    async def client(index: int) -> None:
        call = calls[index % len(calls)]
        counter = index * 7919
        now = time.perf_counter
        record = latencies.append
        while True:
            began = now()
            if began >= measure_to:
                return
            counter += 1
            try:
                await call(counter)
            except grpc.aio.AioRpcError as error:
                if began >= measure_from:
                    errors[error.code().name] = errors.get(error.code().name, 0) + 1
                continue
            if began >= measure_from:
                record(now() - began)

    await asyncio.gather(sample_cpu(measure_from, measure_to, server, snapshots),
                         *(client(i) for i in range(clients)))
    result = Result(scenario, calls=len(latencies), seconds=duration, latencies=latencies, errors=errors)
    apply_cpu(result, *snapshots)
    return result


@quiet_gc
async def run_open_load(scenario: str, calls: list[Call], clients: int, rate: float, warmup: float,
                        duration: float, server: ChildProcess | None = None, max_outstanding: int = 4,
                        drain: float = DRAIN) -> OpenResult:
    """Open loop at ``rate`` calls/s in all: client i sends every ``clients / rate`` s, the clients' schedules
    staggered so that the calls are evenly spaced. Calls scheduled during the warm-up are discarded.

    A client has at most ``max_outstanding`` calls in flight; a call that finds it at that limit waits for
    one to end (its latency still counts from its scheduled time). Sending stops at the end of the window;
    calls scheduled in the window and still unsent or unanswered ``drain`` s later are given up (cancelled)
    and counted with the time they had waited by then (a lower bound)."""
    interval = clients / rate
    start = time.perf_counter() + 0.01
    measure_from = start + warmup
    measure_to = measure_from + duration
    cutoff = measure_to + drain
    result = OpenResult(scenario, offered=rate, seconds=duration)
    latencies, errors = result.latencies, result.errors
    in_flight: dict[asyncio.Task, float] = {}  # measured calls only -> scheduled time
    others: set[asyncio.Task] = set()  # warm-up calls
    snapshots: list[CpuSnapshot] = []

    async def one(call: Call, counter: int, scheduled: float, measured: bool, limit: asyncio.Semaphore) -> None:
        try:
            await call(counter)
        except Exception as error:  # counted, whatever it is (CancelledError is not an Exception)
            if measured:
                code = error.code().name if isinstance(error, grpc.aio.AioRpcError) else type(error).__name__
                errors[code] = errors.get(code, 0) + 1
            return
        finally:
            limit.release()
        answered = time.perf_counter()
        if measure_from <= answered < measure_to:
            result.answered_in_window += 1
        if measured:
            latencies.append(answered - scheduled)
            result.completed += 1

    def give_up(first: float, k: int) -> None:
        """Calls k, k+1, ... of a client, scheduled in the window, never sent."""
        while (scheduled := first + k * interval) < measure_to:
            if scheduled >= measure_from:
                result.unsent += 1
                latencies.append(cutoff - scheduled)
            k += 1

    async def client(index: int) -> None:
        call = calls[index % len(calls)]
        limit = asyncio.Semaphore(max_outstanding)
        first = start + index * interval / clients
        k = 0
        while (scheduled := first + k * interval) < measure_to:
            measured = scheduled >= measure_from
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if limit.locked():
                result.held += measured
                try:
                    await asyncio.wait_for(limit.acquire(), cutoff - time.perf_counter())
                except TimeoutError:
                    give_up(first, k)
                    return
            else:
                await limit.acquire()
            sent = time.perf_counter()
            if sent >= cutoff:
                limit.release()
                give_up(first, k)
                return
            result.late += measured and sent - scheduled > LATE_AFTER
            task = asyncio.create_task(one(call, index * 7919 + k, scheduled, measured, limit))
            if measured:
                in_flight[task] = scheduled
                task.add_done_callback(lambda t: in_flight.pop(t, None))
            else:
                others.add(task)
                task.add_done_callback(others.discard)
            k += 1

    await asyncio.gather(sample_cpu(measure_from, measure_to, server, snapshots),
                         *(client(i) for i in range(clients)))
    pending = set(in_flight) | others
    if pending:
        _, still = await asyncio.wait(pending, timeout=max(0.0, cutoff - time.perf_counter()))
        for task in still:
            scheduled = in_flight.pop(task, None)
            if scheduled is not None:
                result.unfinished += 1
                latencies.append(cutoff - scheduled)
            task.cancel()
        await asyncio.gather(*still, return_exceptions=True)
    apply_cpu(result, *snapshots)
    return result


def merge(parts: list[Result]) -> Result:
    """One result from the rounds of a scenario (CPU shares weighted by duration)."""
    seconds = sum(p.seconds for p in parts)

    def weighted(attribute: str) -> float:
        return sum(getattr(p, attribute) * p.seconds for p in parts) / seconds

    threads: dict[str, float] = {}
    for part in parts:
        for name, share in part.server_threads:
            threads[name] = threads.get(name, 0.0) + share * part.seconds / seconds
    errors: dict[str, int] = {}
    for part in parts:
        for code, count in part.errors.items():
            errors[code] = errors.get(code, 0) + count
    return Result(
        parts[0].scenario, calls=sum(p.calls for p in parts), seconds=seconds,
        latencies=[x for p in parts for x in p.latencies], errors=errors,
        server_cpu=weighted("server_cpu"), client_cpu=weighted("client_cpu"), machine_busy=weighted("machine_busy"),
        postgres_cpu=weighted("postgres_cpu"), other_cpu=weighted("other_cpu"),
        server_threads=sorted(threads.items(), key=lambda t: -t[1]), server_waits=weighted("server_waits"),
        server_preemptions=weighted("server_preemptions"),
        round_rates=[p.rate for p in parts],
    )
