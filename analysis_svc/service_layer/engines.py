"""Choosing the engine a request names, and standing in with `local` when another one fails.

A failure of the chosen engine (unreachable, slow, refused, an answer that does not validate) is replaced by the
local result, counted in ``sparring_analysis_engine_fallbacks_total{reason}``: a call is never left without a Say
Meter or an audit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from prometheus_client import Counter

from svckit.openai_json import EngineFailure, within_deadline

log = logging.getLogger("analysis.engines")

ENGINE_FALLBACKS = Counter("sparring_analysis_engine_fallbacks_total",
                           "Analyses and audits where the openai engine failed and the local one stood in.",
                           ("reason",))
NOT_CONFIGURED = "ENGINE_OPENAI is not configured on this service (ANALYSIS_OPENAI_BASE_URL)"


class Named(Protocol):
    name: str


E = TypeVar("E", bound=Named)
T = TypeVar("T")


@dataclass(frozen=True)
class Produced(Generic[T]):
    result: T
    engine: str  # the engine that produced it
    fallback: bool  # another engine was asked for, failed, and local stood in


@dataclass(frozen=True)
class Engines(Generic[E]):
    """The engines of this service by name: `local` always; ``default`` for a request that names none."""

    local: E
    others: Mapping[str, E]
    default: str = "local"

    def configured(self, name: str) -> bool:
        return name == self.local.name or name in self.others

    def named(self, name: str) -> E:
        """A configured engine by name."""
        return self.local if name == self.local.name else self.others[name]

    async def run(self, name: str, work: Callable[[E], Awaitable[T]], deadline: float | None,
                  subject: str) -> Produced[T]:
        """``work`` done by the engine ``name`` within the caller's deadline, else by `local`."""
        chosen = self.others.get(name)
        if chosen is None:
            return Produced(await work(self.local), self.local.name, False)
        try:
            return Produced(await within_deadline(work(chosen), deadline), chosen.name, False)
        except EngineFailure as failure:
            ENGINE_FALLBACKS.labels(failure.reason).inc()
            log.warning("%s engine failed for %s (%s); using local", chosen.name, subject, failure)
            return Produced(await work(self.local), self.local.name, True)
