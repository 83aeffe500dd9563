"""A bounded read cache kept fresh by invalidations (NOTIFY from whichever replica wrote).

A read that raced with an invalidation is not stored: ``put`` takes the generation
seen before the read and drops the value if anything was invalidated since.
While invalidations cannot be heard (listener down) the cache is bypassed. With ``max_age_seconds``
an entry is also read again once it is that old, whatever was heard.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from prometheus_client import Counter

K = TypeVar("K")
V = TypeVar("V")

CACHE_LOOKUPS = Counter("sparring_cache_lookups_total", "Read-cache lookups.", ("cache", "result"))


class InvalidatedCache(Generic[K, V]):
    def __init__(self, name: str, max_entries: int = 10_000, max_age_seconds: float | None = None) -> None:
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()  # value, and when it was read
        self._max = max_entries
        self._max_age = max_age_seconds
        self._generation = 0
        self.enabled = False
        self._hit = CACHE_LOOKUPS.labels(name, "hit")
        self._miss = CACHE_LOOKUPS.labels(name, "miss")

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, key: K) -> V | None:
        if not self.enabled:
            return None
        entry = self._entries.get(key)
        if entry is None or (self._max_age is not None and time.monotonic() - entry[1] > self._max_age):
            self._miss.inc()
            return None
        self._hit.inc()
        self._entries.move_to_end(key)
        return entry[0]

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V | None]]) -> V | None:
        """The cached value, else ``load()``'s, kept unless an invalidation came while it was loading."""
        cached = self.get(key)
        if cached is not None:
            return cached
        generation = self._generation
        value = await load()
        if value is not None:
            self.put(key, value, generation)
        return value

    def put(self, key: K, value: V, generation: int) -> None:
        if not self.enabled or generation != self._generation:
            return
        self._entries[key] = (value, time.monotonic())
        self._entries.move_to_end(key)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def invalidate(self, key: K) -> None:
        self._generation += 1
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()

    def enable(self) -> None:
        self.clear()
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False
        self.clear()
