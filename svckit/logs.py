"""Structured logs: one JSON object a line, with the request id of the call being served."""

from __future__ import annotations

import json
import logging
import sys
import time

from svckit.context import current_call


class _JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        call = current_call()
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", call.request_id),
            "method": call.method,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(service: str, level: str = "INFO", as_json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(_JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class ThrottledLog:
    """Logs a repeated event at most once per ``interval_seconds`` and key, saying how many were left out:
    a client retrying in a loop must not flood the log. Keys are few (method and reason, say); the table is
    bounded all the same."""

    _MAX_KEYS = 1024

    def __init__(self, logger: logging.Logger, interval_seconds: float) -> None:
        self._logger = logger
        self._interval = interval_seconds
        self._last: dict[object, tuple[float, int]] = {}  # key -> (when last logged, how many left out since)

    def warning(self, key: object, message: str, *args: object) -> None:
        now = time.monotonic()
        logged_at, left_out = self._last.get(key, (float("-inf"), 0))
        if now - logged_at < self._interval:
            self._last[key] = (logged_at, left_out + 1)
            return
        if len(self._last) >= self._MAX_KEYS and key not in self._last:
            self._last.clear()
        self._last[key] = (now, 0)
        if left_out:
            message += f" ({left_out} more like it in the last %.0f s)" % (now - logged_at)
        self._logger.warning(message, *args)
