"""What TLS and tokens cost a call, counted in instructions rather than seconds (part of the security section).

A throughput on this 2-core machine, shared by the server, its load generator and PostgreSQL, varies by 5-10% from
one round to the next, and the security loss is a ratio of two of them. callgrind (valgrind) counts the
instructions a process executes: the same for the same binary, inputs and environment, whatever else the machine is
doing. The persona service is started under callgrind in each of three modes in turn (plaintext and anonymous;
plaintext with the token sent and checked; TLS with the token), GetPersona called by h2load as in the throughput
measurement, and the instructions of all the server's threads over a fixed number of calls are read by the library
they ran in. Instructions are work, not time: callgrind runs a process's threads one at a time, so the count says
what a call costs the server, not how its threads contend for the cores (nor what the load generator spends). Nor
is a count exact: how many calls one wake-up of a grpc thread or one TLS record serves depends on timing, so the
modes are counted in interleaved rounds and each round's figure is shown.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import h2load, persona
from bench.h2load import Plan
from bench.security import PLAINTEXT, PLAINTEXT_TOKENS, SECURE, Mode
from svckit import eventloop

MODES = (PLAINTEXT, PLAINTEXT_TOKENS, SECURE)
CALLS = 3_000
ROUNDS = 2
WARMUP_CALLS = 300  # before counting: connections made, caches and the token's verification warm
CONNECTIONS, STREAMS = 5, 10
READY_WITHIN_SECONDS = 600.0  # a service starts 10-50 times slower under valgrind
TOOL_TIMEOUT_SECONDS = 120.0
# Libraries by what their file name starts with; everything else (uvloop, protobuf, the loader) is "other".
LIBRARIES = (("libpython", "Python interpreter"), ("cygrpc", "grpc: core, BoringSSL, its Cython layer"),
             ("libc.so", "C library"))
OTHER = "other"
INSTALL_HINT = "valgrind (Debian's valgrind; `make bench` installs it) is not on PATH"


@dataclass(frozen=True)
class Count:
    """Instructions the server executed for ``calls`` GetPersona calls in one mode, by library; ``rounds``: each
    round's instructions per call, when rounds are added up."""

    mode: str
    calls: int
    by_library: dict[str, int]
    rounds: tuple[float, ...] = ()

    def __add__(self, other: Count) -> Count:
        return Count(self.mode, self.calls + other.calls, dict(Counter(self.by_library) + Counter(other.by_library)),
                     (*(self.rounds or (self.per_call,)), other.per_call))

    @property
    def per_call(self) -> float:
        return sum(self.by_library.values()) / self.calls

    def library_per_call(self, library: str) -> float:
        return self.by_library.get(library, 0) / self.calls


def available() -> bool:
    return all(shutil.which(tool) for tool in ("valgrind", "callgrind_control"))


def library_of(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return next((label for prefix, label in LIBRARIES if name.startswith(prefix)), OTHER)


def instructions_by_object(profile: Path) -> Counter[str]:
    """Self instructions per object file (shared library) in a callgrind profile.

    The format names each object once, as ``ob=(id) path`` or ``cob=(id) path``, and by ``(id)`` after that; a
    cost line (``position instructions``) belongs to the last ``ob=``; the line after ``calls=`` is a call's
    inclusive cost, already counted in the callee, so it is skipped."""
    names: dict[str, str] = {}
    totals: Counter[str] = Counter()
    current, after_call = "", False
    for line in profile.read_text(errors="replace").splitlines():
        if after_call:
            after_call = False
            continue
        if line.startswith(("ob=", "cob=")):
            reference = line.split("=", 1)[1]
            ident, _, name = reference.partition(" ") if reference.startswith("(") else (reference, "", reference)
            if name:
                names[ident] = name
            if line.startswith("ob="):
                current = names.get(ident, ident)
        elif line.startswith("calls="):
            after_call = True
        elif line[:1] in ("+", "-", "*") or line[:1].isdigit():
            fields = line.split()
            if len(fields) > 1:
                totals[current] += int(fields[1])
    return totals


def _tool(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=TOOL_TIMEOUT_SECONDS)


def count(root: Path, database_url: str, logs: Path, plan: Plan, mode: Mode, work_dir: Path,
          calls: int = CALLS) -> Count:
    """The persona service under callgrind in ``mode``: ``WARMUP_CALLS`` calls of ``plan`` uncounted, then
    ``calls`` counted."""
    profile = work_dir / f"callgrind-{mode.log_name('persona').removesuffix('.log')}.out"
    for stale in work_dir.glob(f"{profile.name}*"):
        stale.unlink()
    child, address = persona.start_service(
        root, database_url, logs, mode=mode,
        under=["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={profile}"])

    async def call() -> None:
        async with mode.channel(address) as channel:
            await persona.wait_serving(child, channel, within=READY_WITHIN_SECONDS)
        await h2load.fixed_calls(plan, address, CONNECTIONS, STREAMS, WARMUP_CALLS, work_dir, mode)
        _tool("callgrind_control", "--instr=on", str(child.pid))
        await h2load.fixed_calls(plan, address, CONNECTIONS, STREAMS, calls, work_dir, mode)
        _tool("callgrind_control", "--instr=off", str(child.pid))
        _tool("callgrind_control", "--dump", str(child.pid))

    try:
        eventloop.run(call())
    finally:
        child.stop()
    dumps = sorted(work_dir.glob(f"{profile.name}.*"))
    if not dumps:
        raise RuntimeError(f"callgrind wrote no profile for {mode.label}; log {child.log_path}:\n{child.log_tail()}")
    by_library: Counter[str] = Counter()
    for name, instructions in instructions_by_object(dumps[0]).items():
        by_library[library_of(name)] += instructions
    return Count(mode.label, calls, dict(by_library))


def counts(root: Path, database_url: str, logs: Path, plan: Plan, work_dir: Path,
           log: Callable[[str], None]) -> list[Count]:
    """GetPersona's instructions in each mode, in ``ROUNDS`` rounds over the modes (the catalogue is loaded
    already); each mode's rounds added up."""
    found: dict[str, Count] = {}
    for round_number in range(1, ROUNDS + 1):
        for mode in MODES:
            log(f"security, instructions per GetPersona call under callgrind, round {round_number} of {ROUNDS}: "
                f"{mode.label}, {CALLS:,} calls")
            measured = count(root, database_url, logs, plan, mode, work_dir)
            found[mode.label] = found[mode.label] + measured if mode.label in found else measured
    return list(found.values())


def rows(found: list[Count]) -> tuple[list[str], list[list[str]]]:
    """A table: instructions per call in each mode, by library, and what each mode adds to the one before."""
    labels = [label for _, label in LIBRARIES] + [OTHER]
    headers = ["server mode", "instructions per call", "each round", *labels, "added to the mode above"]
    body = []
    for index, item in enumerate(found):
        added = "-" if index == 0 else (
            f"{item.per_call - found[index - 1].per_call:+,.0f} "
            f"({item.per_call / found[index - 1].per_call - 1:+.1%})")
        body.append([item.mode, f"{item.per_call:,.0f}", " / ".join(f"{r:,.0f}" for r in item.rounds or
                                                                   (item.per_call,)),
                     *(f"{item.library_per_call(label):,.0f}" for label in labels), added])
    return headers, body
