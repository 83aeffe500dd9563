"""Closed-loop load: N clients (asyncio tasks) spread over a few channels, each calling back to back.

A run lasts ``warmup + duration`` seconds; calls that start during the warm-up are discarded, calls that
start in the measured window are counted (throughput = their number / the window) and their latencies kept.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from bench.children import ChildProcess

# Distinct channels must not share one TCP connection (grpc's global subchannel pool would merge them).
CHANNEL_OPTIONS = (("grpc.use_local_subchannel_pool", 1),)

Call = Callable[[int], Awaitable[object]]
"""One request; the argument is a per-client counter, for picking varied requests."""


def open_channels(address: str, count: int) -> list[grpc.aio.Channel]:
    if not address.startswith("127.0.0.1:"):
        raise ValueError(f"the benchmark only talks to 127.0.0.1, not {address}")
    return [grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) for _ in range(count)]


@dataclass
class Result:
    scenario: str
    calls: int
    seconds: float
    latencies: list[float]
    errors: dict[str, int] = field(default_factory=dict)
    server_cpu: float = float("nan")  # CPU seconds of the server process per wall second (1.0 = one core)
    client_cpu: float = float("nan")  # same for this (load generator) process
    machine_busy: float = float("nan")  # share of all cores busy over the window, 0..1
    server_threads: list[tuple[str, float]] = field(default_factory=list)  # (thread, CPU per wall second)
    round_rates: list[float] = field(default_factory=list)  # calls/s of each round, when merged from rounds

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] * 1000

    @property
    def server_cpu_per_call_us(self) -> float:
        """CPU time the server process spent per call, in microseconds (all its threads)."""
        return self.server_cpu / self.rate * 1e6 if self.rate else float("nan")

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


async def run_load(scenario: str, calls: list[Call], clients: int, warmup: float, duration: float,
                   server: ChildProcess | None = None) -> Result:
    """``calls[i % len(calls)]`` is client i's call (one per channel, so clients spread over the channels)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from = start + warmup
    measure_to = measure_from + duration
    latencies: list[float] = []
    errors: dict[str, int] = {}
    samples: dict[str, float] = {}
    threads0: dict[int, tuple[str, float]] = {}
    threads1: dict[int, tuple[str, float]] = {}

    async def client(index: int) -> None:
        call = calls[index % len(calls)]
        counter = index * 7919
        now = loop.time
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

    async def sample_cpu() -> None:
        await asyncio.sleep(max(0.0, measure_from - loop.time()))
        samples["t0"], samples["client0"] = loop.time(), time.process_time()
        samples["busy0"], samples["total0"] = _machine_ticks()
        if server is not None:
            samples["server0"] = server.cpu_seconds()
            threads0.update(server.thread_cpu_seconds())
        await asyncio.sleep(max(0.0, measure_to - loop.time()))
        samples["t1"], samples["client1"] = loop.time(), time.process_time()
        samples["busy1"], samples["total1"] = _machine_ticks()
        if server is not None:
            samples["server1"] = server.cpu_seconds()
            threads1.update(server.thread_cpu_seconds())

    await asyncio.gather(sample_cpu(), *(client(i) for i in range(clients)))
    result = Result(scenario, calls=len(latencies), seconds=duration, latencies=latencies, errors=errors)
    wall = samples["t1"] - samples["t0"]
    result.client_cpu = (samples["client1"] - samples["client0"]) / wall
    if server is not None:
        result.server_cpu = (samples["server1"] - samples["server0"]) / wall
        busy = [(f"{name}/{tid}", (cpu - threads0.get(tid, (name, 0.0))[1]) / wall)
                for tid, (name, cpu) in threads1.items()]
        result.server_threads = sorted((t for t in busy if t[1] >= 0.005), key=lambda t: -t[1])
    total = samples["total1"] - samples["total0"]
    if total:
        result.machine_busy = (samples["busy1"] - samples["busy0"]) / total
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
        server_threads=sorted(threads.items(), key=lambda t: -t[1]),
        round_rates=[p.rate for p in parts],
    )
