"""Garbage-collection pauses as a metric: a long full collection stalls every call and stream."""

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


def observe_gc_pauses() -> None:
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)
