"""The memory sections renderings end with, one per scope (a persona's of a candidate, in a session or not) and
scenario, kept until anything they were built from changes.

A section is built from a candidate's working memory, its session's, its facts and episodes (the last, and the one
most like the scenario rendered), and its persona's memory settings; any change to one of them drops every section of
that candidate (or, for settings, of that persona), so that a rendering hit costs one dictionary lookup. Like
``svckit.cache.InvalidatedCache``: a section built while something was dropped is not kept, and while changes cannot
be heard nothing is kept.
"""

from __future__ import annotations

from collections import OrderedDict

from persona_svc.domain.memory import MemorySection
from svckit.cache import CACHE_LOOKUPS

# (organization, persona_id, candidate_id): the sections of one candidate are dropped together.
CandidateKey = tuple[str, str, str]
# (session_id, scenario_id), either "" when the rendering names none: one section each.
Slot = tuple[str, str]


class MemorySections:
    def __init__(self, max_entries: int = 10_000) -> None:
        self._candidates: OrderedDict[CandidateKey, dict[Slot, MemorySection]] = OrderedDict()
        self._max = max_entries
        self._size = 0
        self._generation = 0
        self.enabled = False
        self._hit = CACHE_LOOKUPS.labels("memory_sections", "hit")
        self._miss = CACHE_LOOKUPS.labels("memory_sections", "miss")

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, candidate: CandidateKey, slot: Slot) -> MemorySection | None:
        if not self.enabled:
            return None
        sections = self._candidates.get(candidate)
        section = sections.get(slot) if sections is not None else None
        if section is None:
            self._miss.inc()
            return None
        self._hit.inc()
        self._candidates.move_to_end(candidate)
        return section

    def put(self, candidate: CandidateKey, slot: Slot, section: MemorySection, generation: int) -> None:
        """Keeps ``section`` unless something was dropped since ``generation`` was read, before building it."""
        if not self.enabled or generation != self._generation:
            return
        sections = self._candidates.setdefault(candidate, {})
        self._size += slot not in sections
        sections[slot] = section
        self._candidates.move_to_end(candidate)
        while self._size > self._max and self._candidates:
            _, evicted = self._candidates.popitem(last=False)
            self._size -= len(evicted)

    def drop_candidate(self, candidate: CandidateKey) -> None:
        self._generation += 1
        self._size -= len(self._candidates.pop(candidate, {}))

    def drop_persona(self, organization: str, persona_id: str) -> None:
        """Settings change seldom: finding the persona's candidates by a scan is cheaper than indexing them."""
        self._generation += 1
        for candidate in [key for key in self._candidates if key[:2] == (organization, persona_id)]:
            self._size -= len(self._candidates.pop(candidate))

    def clear(self) -> None:
        self._generation += 1
        self._candidates.clear()
        self._size = 0

    def enable(self) -> None:
        self.clear()
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False
        self.clear()
