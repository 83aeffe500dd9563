"""Runs a module under cProfile timed by the CPU time of the main thread (the event loop), not wall time.

    python -m bench.profiled OUTPUT.prof MODULE [ARGS...]

With wall time, the profile is dominated by the event loop waiting in epoll (and by time the process
spends descheduled on a busy machine); with the thread's CPU time it shows where the loop's CPU goes.
The grpc C-core threads are not in it: ``--profile`` reports their CPU separately. The garbage
collector's passes (count and CPU time per generation) are written beside the profile (``.gc.txt``).
"""

from __future__ import annotations

import cProfile
import gc
import runpy
import sys
import time
from pathlib import Path


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    output, module = sys.argv[1], sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    gc_passes = [0, 0, 0]
    gc_seconds = [0.0, 0.0, 0.0]
    started = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.thread_time()
        else:
            gc_passes[info["generation"]] += 1
            gc_seconds[info["generation"]] += time.thread_time() - started[0]

    gc.callbacks.append(on_gc)
    profiler = cProfile.Profile(time.thread_time)
    try:
        profiler.runcall(runpy.run_module, module, run_name="__main__", alter_sys=True)
    finally:
        profiler.dump_stats(output)
        gc.callbacks.remove(on_gc)
        Path(output + ".gc.txt").write_text("".join(
            f"generation {g}: {gc_passes[g]} passes, {gc_seconds[g] * 1000:.1f} ms CPU\n" for g in range(3)
        ) + f"objects tracked at exit: {len(gc.get_objects())}\n")


if __name__ == "__main__":
    main()
