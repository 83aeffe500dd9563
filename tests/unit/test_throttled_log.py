import logging

from svckit import logs
from svckit.logs import ThrottledLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_a_repeated_warning_is_logged_once_per_interval_and_key_with_the_count_left_out(monkeypatch, caplog):
    clock = Clock()
    monkeypatch.setattr(logs, "time", clock)
    throttled = ThrottledLog(logging.getLogger("test.throttled"), interval_seconds=10)
    with caplog.at_level(logging.WARNING, "test.throttled"):
        for _ in range(50):
            throttled.warning(("/Get", "TOKEN_EXPIRED"), "refused %s", "/Get")
        throttled.warning(("/Get", "TOKEN_MISSING"), "refused %s: missing", "/Get")
        clock.now += 10
        throttled.warning(("/Get", "TOKEN_EXPIRED"), "refused %s", "/Get")

    assert [record.getMessage() for record in caplog.records] == [
        "refused /Get",
        "refused /Get: missing",
        "refused /Get (49 more like it in the last 10 s)",
    ]
