"""Child processes of the benchmark: started in their own session, stopped with SIGTERM, never orphaned.

Each child runs through ``python -m bench.children --parent PID -- CMD...``, which asks Linux to send it
SIGTERM if the benchmark dies (even by SIGKILL) and then execs the command, so the pid we hold is the
service's own pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the child binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ChildProcess:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "wb")
        env = dict(env)
        if env.pop("BENCH_SET_GRPC_FORK_SUPPORT", None):  # set by bench/__main__.py for itself only
            env.pop("GRPC_ENABLE_FORK_SUPPORT", None)
        guarded = [sys.executable, "-m", "bench.children", "--parent", str(os.getpid()), "--", *argv]
        self.process = subprocess.Popen(
            guarded, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the benchmark only; it stops the children in order
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> int | None:
        return self.process.poll()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process (all its threads) so far."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        """Resident memory of the process now (VmRSS; 0 once it has exited)."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0
        kib = next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), "0")
        return int(kib) * 1024

    def main_thread_switches(self) -> tuple[int, int]:
        """How often the process's main thread (a service's event loop) has left its core so far: of its own accord
        (a wait, for I/O or for a lock another thread holds), and preempted by another thread that was to run."""
        try:
            lines = Path(f"/proc/{self.pid}/status").read_text().splitlines()
        except OSError:
            return 0, 0
        counts = dict(line.split(":", 1) for line in lines if line.endswith(tuple("0123456789")) and ":" in line)
        return int(counts.get("voluntary_ctxt_switches", 0)), int(counts.get("nonvoluntary_ctxt_switches", 0))

    def thread_cpu_seconds(self) -> dict[int, tuple[str, float]]:
        """CPU time so far of each thread of the process: {tid: (thread name, seconds)}."""
        threads = {}
        tick = os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                head, tail = task.joinpath("stat").read_text().rsplit(")", 1)
                fields = tail.split()
                threads[int(task.name)] = (head.split("(", 1)[1], (int(fields[11]) + int(fields[12])) / tick)
        return threads

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL. Returns the exit code."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(grace)
                except subprocess.TimeoutExpired:
                    print(f"bench: {self.name} did not stop in {grace:.0f}s; killing it", file=sys.stderr)
                    self.process.kill()
                    self.process.wait(5)
            return self.process.returncode
        finally:
            self._log.close()


def environment(changes: Mapping[str, str | None]) -> dict[str, str]:
    """This process's environment with ``changes`` (a None value removes the variable)."""
    changed = dict(os.environ)
    for key, value in changes.items():
        if value is None:
            changed.pop(key, None)
        else:
            changed[key] = value
    return changed


def start_module(name: str, argv: list[str], root: Path, log_path: Path, env: dict[str, str] | None = None,
                 profile_to: Path | None = None, under: Sequence[str] = ()) -> ChildProcess:
    """``python -m MODULE ARGS...`` (``argv``) as a child; with ``profile_to``, under ``bench.profiled``
    (the profile is written when it exits); with ``under``, the interpreter run by that command (a tool such as
    valgrind, which becomes the child process)."""
    prefix = ["bench.profiled", str(profile_to)] if profile_to is not None else []
    return ChildProcess(name, [*under, sys.executable, "-m", *prefix, *argv],
                        dict(os.environ) if env is None else env, root, log_path)


async def wait_until_ready(child: ChildProcess, probe: Callable[[], Awaitable[bool]], within: float) -> None:
    """Polls ``probe`` (each attempt has its own deadline) until true, the child exits, or ``within`` s pass."""
    deadline = time.monotonic() + within
    attempts = 0
    while True:
        code = child.exited()
        if code is not None:
            raise RuntimeError(f"{child.name} exited with code {code} before becoming ready; "
                               f"log {child.log_path}:\n{child.log_tail()}")
        attempts += 1
        with contextlib.suppress(Exception):
            if await probe():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{child.name} not ready after {within:.0f}s ({attempts} probes); "
                               f"log {child.log_path}:\n{child.log_tail()}")
        await asyncio.sleep(0.05)


def _guard_and_exec(argv: list[str]) -> None:
    """``--parent PID -- CMD...``: die with the parent, then become CMD."""
    if len(argv) < 4 or argv[0] != "--parent" or argv[2] != "--":
        raise SystemExit("usage: python -m bench.children --parent PID -- CMD...")
    parent, command = int(argv[1]), argv[3:]
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        raise SystemExit(1)
    os.execvp(command[0], command)


if __name__ == "__main__":
    _guard_and_exec(sys.argv[1:])
