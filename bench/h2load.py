"""Closed-loop load from a compiled client: nghttp2's ``h2load`` sending unary gRPC calls.

The Python load generator costs about as much CPU per call as the server it measures, and on a 2-core
machine the two compete for the same cores: what it reports of a fast server is as much the client as the
server. ``h2load`` (C, from Debian's ``nghttp2-client``) speaks the HTTP/2 under gRPC for a fraction of
that, so the server gets the machine and its own limits show.

A unary gRPC call is an HTTP/2 POST to ``/package.Service/Method`` whose body is the request framed as gRPC
frames a message (a zero byte, the length in 4 bytes, the message). ``h2load`` sends the same body on every
call and keeps ``streams`` calls in flight on each of ``connections`` connections. It does not read the
``grpc-status`` trailer, so calls are judged by their response bodies: a failed call answers with none,
a successful one with the response a real gRPC stub got for the same request just before. The measured
run is a fixed number of calls (its warm-up a separate run: h2load's byte count would include it), so
its response bytes must be that number times the response's size, and each response short is an error.
"""

from __future__ import annotations

import asyncio
import re
import resource
import shutil
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.children import ChildProcess
from bench.load import CpuSnapshot, Result, apply_cpu, merge
from bench.security import SECURE, Mode

INSTALL_HINT = "h2load (Debian's nghttp2-client; `make bench` installs it) is not on PATH"
_REQUESTS = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                       r"(\d+) errored, (\d+) timeout")
_DATA_BYTES = re.compile(r"traffic: .*\((\d+)\) data")
_FINISHED = re.compile(r"finished in ([\d.]+)(ms|s),")


def framed(message: bytes) -> bytes:
    """A gRPC length-prefixed message, uncompressed."""
    return struct.pack(">BI", 0, len(message)) + message


@dataclass(frozen=True)
class Plan:
    """One scenario for h2load: the method's path, the serialized request, the serialized response it gets."""

    scenario: str
    path: str  # "/package.Service/Method"
    request: bytes
    response: bytes


def available() -> bool:
    return shutil.which("h2load") is not None


def version() -> str:
    """E.g. "h2load nghttp2/1.52.0"."""
    output = subprocess.run(["h2load", "--version"], capture_output=True, text=True, timeout=10).stdout
    return output.strip().splitlines()[0] if output.strip() else "h2load"


def _command(plan: Plan, address: str, connections: int, streams: int, work_dir: Path,
             run: str, mode: Mode) -> tuple[list[str], Path]:
    """h2load's argv (``run``: ``--duration=...`` or ``--requests=...``), and the file it logs each call to."""
    executable = shutil.which("h2load")
    if executable is None:
        raise RuntimeError(INSTALL_HINT)
    work_dir.mkdir(parents=True, exist_ok=True)
    body, log = work_dir / "h2load-request.bin", work_dir / "h2load-calls.tsv"
    body.write_bytes(framed(plan.request))
    log.unlink(missing_ok=True)
    return [executable, f"--clients={connections}", f"--max-concurrent-streams={streams}", "--threads=1", run,
            f"--data={body}", "--header=content-type: application/grpc", "--header=te: trailers",
            f"--log-file={log}", *mode.h2load_target(address, plan.path)], log


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _h2load(argv: list[str], seconds: float, server: ChildProcess | None = None,
                  snapshots: list[CpuSnapshot] | None = None) -> tuple[int, int, str, float]:
    """Runs h2load; returns its calls done, their data bytes, its output and its CPU per wall second (the only
    child the benchmark reaps meanwhile). With ``snapshots``, the machine's CPU is sampled from 10% of the
    ``seconds`` it should take to its end (none if it ends before)."""
    started, cpu_before = time.perf_counter(), _children_cpu_seconds()
    process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    first = None
    if snapshots is not None:
        async def sample_first() -> None:
            await asyncio.sleep(seconds * 0.1)
            snapshots.append(CpuSnapshot.take(server))

        first = asyncio.create_task(sample_first())
    output, _ = await asyncio.wait_for(process.communicate(), timeout=seconds * 2 + 60)
    if first is not None:
        if first.done():
            snapshots.append(CpuSnapshot.take(server))
        else:
            first.cancel()
    client_cpu = (_children_cpu_seconds() - cpu_before) / (time.perf_counter() - started)
    text = output.decode(errors="replace")
    counts, data = _REQUESTS.search(text), _DATA_BYTES.search(text)
    if process.returncode != 0 or counts is None or data is None:
        raise RuntimeError(f"h2load failed (exit {process.returncode}):\n{text[-2000:]}")
    done, failed, errored, timed_out = (int(counts.group(i)) for i in (3, 5, 6, 7))
    if failed or errored or timed_out:
        raise RuntimeError(f"h2load: {failed} calls failed, {errored} errored, {timed_out} timed out:\n{text[-2000:]}")
    return done, int(data.group(1)), text, client_cpu


def _answered(plan: Plan, data_bytes: int) -> int:
    """How many calls answered with ``plan``'s response, from h2load's data bytes (a gRPC error answers with no
    body)."""
    return data_bytes // len(framed(plan.response))


async def fixed_calls(plan: Plan, address: str, connections: int, streams: int, calls: int, work_dir: Path,
                      mode: Mode = SECURE, slowest_rate: float = 50.0) -> None:
    """``calls`` calls, ``connections`` x ``streams`` in flight, each answered as ``plan`` says (raises otherwise);
    ``slowest_rate``: the calls/s below which it is taken as stuck (a server under valgrind is slow)."""
    argv, _ = _command(plan, address, connections, streams, work_dir, f"--requests={calls}", mode)
    done, data_bytes, _, _ = await _h2load(argv, calls / slowest_rate)
    answered = _answered(plan, data_bytes)
    if done != calls or answered != calls:
        raise RuntimeError(f"h2load: {done} of {calls} calls done, {answered} answered as expected")


async def closed_loop(plan: Plan, address: str, connections: int, streams: int, warmup: float, duration: float,
                      server: ChildProcess, work_dir: Path, mode: Mode = SECURE) -> Result:
    """``connections`` x ``streams`` calls in flight, each answered call replaced at once by the next: ``warmup``
    s discarded, then as many calls as the warm-up's pace gets through in ``duration`` s, measured.

    The measured run is a number of calls rather than a time, so that every call it sends ends within it
    and its response bytes account for every call exactly."""
    argv, _ = _command(plan, address, connections, streams, work_dir, f"--duration={round(warmup * 1000)}ms", mode)
    warm_calls = (await _h2load(argv, warmup))[0] if warmup > 0 else 0
    calls = max(connections * streams, round(warm_calls / warmup * duration) if warm_calls else 1000)
    argv, log = _command(plan, address, connections, streams, work_dir, f"--requests={calls}", mode)
    snapshots: list[CpuSnapshot] = []
    done, data_bytes, text, client_cpu = await _h2load(argv, duration, server, snapshots)
    finished = _FINISHED.search(text)
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1) if finished else duration
    # one line per call: start (µs since the epoch), HTTP status, µs until the end of the response
    latencies = [int(line.split("\t")[2]) / 1e6 for line in log.read_text().splitlines() if line]
    wrong = done - _answered(plan, data_bytes)
    result = Result(plan.scenario, calls=done, seconds=seconds, latencies=latencies,
                    errors={"unexpected response": wrong} if wrong else {})
    if len(snapshots) == 2:
        apply_cpu(result, *snapshots, client_cpu=client_cpu)
    else:  # ended within its first tenth: no window for the machine's figures
        result.client_cpu = client_cpu
    return result


@dataclass(frozen=True)
class Scenario:
    """A plan and the server it is measured on."""

    plan: Plan
    address: str
    server: ChildProcess
    mode: Mode = SECURE


async def interleaved(scenarios: dict[str, Scenario], connections: int, streams: int, warmup: float, duration: float,
                      rounds: int, work_dir: Path, log: Callable[[str], None]) -> list[Result]:
    """Each scenario in ``closed_loop`` for ``duration`` s in all, in ``rounds`` rounds interleaved with the other
    scenarios (a drift in the machine's load hits them all alike); the merged result of each, in order."""
    parts: dict[str, list[Result]] = {name: [] for name in scenarios}
    for round_number in range(1, rounds + 1):
        for name, scenario in scenarios.items():
            result = await closed_loop(scenario.plan, scenario.address, connections, streams, warmup,
                                       duration / rounds, scenario.server, work_dir, scenario.mode)
            result.scenario = name  # the plan's own name is its method's
            log(f"  round {round_number} {name}: {result.rate:,.0f} calls/s, p99 {result.percentile(99):.1f} ms"
                + (f", errors {result.errors}" if result.errors else ""))
            parts[name].append(result)
    return [merge(p) for p in parts.values()]
