"""The garbage collector of a service process: how it is set once start-up is over, and its pauses as a metric (a
long full collection stalls every call and stream)."""

from __future__ import annotations

import gc
import logging
import time

from prometheus_client import Histogram

log = logging.getLogger("svckit.gc")

GC_PAUSE_SECONDS = Histogram(
    "sparring_gc_pause_seconds", "Pauses of the Python garbage collector.", ("generation",),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
_LONG_PAUSE_SECONDS = 0.1
# CPython collects its youngest generation every 700 allocations: under load that is many times within one call, so
# the objects of the calls in flight survive it, are promoted, and fill the oldest generation, whose full
# collections (a pause that grows with every object tracked) then come every few seconds. Collected this much less
# often, a call's objects die young and full collections come when the process's lasting data has grown.
YOUNG_COLLECTION_ALLOCATIONS = 50_000
_started = 0.0


def _on_gc(phase: str, info: dict) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
        return
    pause = time.perf_counter() - _started
    GC_PAUSE_SECONDS.labels(str(info["generation"])).observe(pause)
    if pause > _LONG_PAUSE_SECONDS:
        log.warning("garbage collection of generation %d paused the process for %.0f ms (%d objects collected)",
                    info["generation"], pause * 1000, info.get("collected", 0))


def settle_after_startup() -> None:
    """What start-up allocated lives as long as the process: it is frozen out of every later collection, so full
    collections scan only the objects of calls and streams; the youngest generation is collected every
    ``YOUNG_COLLECTION_ALLOCATIONS``; and the pauses are observed from now on."""
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_ALLOCATIONS, *gc.get_threshold()[1:])
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)
