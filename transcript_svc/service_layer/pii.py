"""Personal data in a live call's utterances, replaced as the persona's safety policy says before they are stored,
so neither the transcript, the analyses nor any model ever hold what the policy does not keep."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Histogram

from guardrails.check_log import CheckDecision, CheckKind, Finding
from guardrails.pii import may_hold_pii
from guardrails.pii_policy import PiiHandling, PiiKind

PROTECT_SECONDS = Histogram(
    "sparring_transcript_pii_seconds",
    "Time to find and replace personal data in one utterance that may hold some (a digit or an @).",
    buckets=(0.00005, 0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05))

@dataclass(frozen=True, slots=True)
class Guarded:
    """What a stream stores of an utterance's text, and what the checks that made it so found."""

    text: str
    findings: tuple[Finding, ...] = ()


# What a stream stores of an utterance's text.
Protect = Callable[[str], Guarded]


class TextProtector(Protocol):
    def handle(self, text: str, handling: PiiHandling, session: str) -> tuple[str, tuple[PiiKind, ...]]: ...


def as_said(text: str) -> Guarded:
    return Guarded(text)


def pii_finding(kinds: tuple[PiiKind, ...], handling: PiiHandling) -> Finding:
    """The check log's record of personal data found: its kinds and how each was handled, never the data."""
    rule = ",".join(f"{kind.name}:{handling.action_for(kind).value}" for kind in kinds)
    return Finding(CheckKind.PII, CheckDecision.PII_HANDLED, rule)


class PiiProtection:
    def __init__(self, protector: TextProtector) -> None:
        self._protector = protector

    def for_stream(self, handling: PiiHandling, session_id: str) -> Protect:
        """What a stream of ``session_id`` stores of each text, by the handling of the policy in force when it
        opens."""
        if handling.keeps_everything:
            return as_said

        def protect(text: str) -> Guarded:
            if not may_hold_pii(text):
                return Guarded(text)  # most utterances: nothing to time, nothing to replace
            started = time.perf_counter()
            protected, kinds = self._protector.handle(text, handling, session_id)
            PROTECT_SECONDS.observe(time.perf_counter() - started)
            return Guarded(protected, (pii_finding(kinds, handling),) if kinds else ())

        return protect
