"""Personal data in a live call's utterances, replaced as the persona's safety policy says before they are stored,
so neither the transcript, the analyses nor any model ever hold what the policy does not keep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from prometheus_client import Histogram

from guardrails.pii import may_hold_pii
from guardrails.pii_policy import PiiHandling

PROTECT_SECONDS = Histogram(
    "sparring_transcript_pii_seconds",
    "Time to find and replace personal data in one utterance that may hold some (a digit or an @).",
    buckets=(0.00005, 0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05))

# What a stream stores of an utterance's text.
Protect = Callable[[str], str]


class TextProtector(Protocol):
    def protect(self, text: str, handling: PiiHandling, session: str) -> str: ...


def as_said(text: str) -> str:
    return text


class PiiProtection:
    def __init__(self, protector: TextProtector) -> None:
        self._protector = protector

    def for_stream(self, handling: PiiHandling, session_id: str) -> Protect:
        """What a stream of ``session_id`` stores of each text, by the handling of the policy in force when it
        opens."""
        if handling.keeps_everything:
            return as_said

        def protect(text: str) -> str:
            if not may_hold_pii(text):
                return text  # most utterances: nothing to time, nothing to replace
            started = time.perf_counter()
            protected = self._protector.protect(text, handling, session_id)
            PROTECT_SECONDS.observe(time.perf_counter() - started)
            return protected

        return protect
