"""Prometheus metrics: the gRPC ones with the go-grpc-prometheus names and labels, so existing dashboards work, and
a timer of the phases of a piece of work."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram

_LABELS = ("grpc_type", "grpc_service", "grpc_method")

SERVER_STARTED = Counter("grpc_server_started_total", "Total number of RPCs started on the server.", _LABELS)
SERVER_HANDLED = Counter(
    "grpc_server_handled_total",
    "Total number of RPCs completed on the server, regardless of success or failure.",
    (*_LABELS, "grpc_code"),
)
SERVER_HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
    _LABELS,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SERVER_MSG_RECEIVED = Counter(
    "grpc_server_msg_received_total", "Total number of RPC stream messages received on the server.", _LABELS
)
SERVER_MSG_SENT = Counter(
    "grpc_server_msg_sent_total", "Total number of gRPC stream messages sent by the server.", _LABELS
)


class MethodMetrics:
    """The labelled children of one method, resolved once instead of on every call."""

    __slots__ = ("handled_by_code", "handling", "labels", "received", "sent", "started")

    def __init__(self, grpc_type: str, full_method: str):
        service, _, method = full_method.lstrip("/").rpartition("/")
        self.labels = (grpc_type, service, method)
        self.started = SERVER_STARTED.labels(*self.labels)
        self.handling = SERVER_HANDLING_SECONDS.labels(*self.labels)
        self.received = SERVER_MSG_RECEIVED.labels(*self.labels)
        self.sent = SERVER_MSG_SENT.labels(*self.labels)
        self.handled_by_code: dict[str, Counter] = {}

    def handled(self, code_name: str) -> None:
        counter = self.handled_by_code.get(code_name)
        if counter is None:
            counter = self.handled_by_code[code_name] = SERVER_HANDLED.labels(*self.labels, code_name)
        counter.inc()


class Phases:
    """Times the phases of one piece of work one after the other, each from the end of the one before, into a
    histogram labelled by phase: at once, or, ``held``, only when ``observe`` says the work counts (a retry answered
    from a log ran none of them)."""

    def __init__(self, histogram: Histogram, *, held: bool = False) -> None:
        self._histogram = histogram
        self._held = held
        self._last = time.perf_counter()
        self.ended: list[str] = []
        self._seconds: list[tuple[str, float]] = []

    def end(self, phase: str) -> None:
        now = time.perf_counter()
        self.ended.append(phase)
        if self._held:
            self._seconds.append((phase, now - self._last))
        else:
            self._histogram.labels(phase).observe(now - self._last)
        self._last = now

    def observe(self) -> None:
        for phase, seconds in self._seconds:
            self._histogram.labels(phase).observe(seconds)
        self._seconds.clear()
