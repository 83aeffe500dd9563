"""Responses built once per immutable domain object.

The read caches hand out the same object until the resource changes, so a response
built from it can be reused as long as it was built from that very object.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

D = TypeVar("D")
M = TypeVar("M")


class ResponseMemo(Generic[D, M]):
    def __init__(self, build: Callable[[D], M], max_entries: int = 10_000) -> None:
        self._build = build
        self._max = max_entries
        self._entries: OrderedDict[Hashable, tuple[D, M]] = OrderedDict()

    def response(self, key: Hashable, source: D) -> M:
        entry = self._entries.get(key)
        if entry is not None and entry[0] is source:
            return entry[1]
        built = self._build(source)
        self._entries[key] = (source, built)
        self._entries.move_to_end(key)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return built
