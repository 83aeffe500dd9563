"""The persona's turns screened by its safety policy's output filters (slurs, threats, defamation of a named
company or person, the policy's own patterns) before they are stored.

A turn a blocking filter matches is stored as a marker naming the filter's rule (``blocked_marker``), never as
said; a turn a flagging filter matches is stored as said. Both are counted, by category and decision."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram

from guardrails.check_log import CheckDecision, CheckKind, Finding
from guardrails.filters import ContentFilter, FilterDecision, screen
from transcript_svc.service_layer.pii import Guarded, Protect, as_said

PERSONA_TURNS_FILTERED = Counter(
    "sparring_transcript_persona_turns_filtered_total",
    "Persona turns an output filter matched, by the filter's category and decision (block: stored as a marker).",
    ("category", "decision"))
SCREEN_SECONDS = Histogram("sparring_transcript_output_filter_seconds",
                           "Time to screen one persona turn with the persona's output filters.",
                           buckets=(0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.05))


_DECISIONS = {FilterDecision.BLOCK: CheckDecision.BLOCKED, FilterDecision.FLAG: CheckDecision.FLAGGED}


def blocked_marker(rule: str) -> str:
    """What is stored instead of a persona turn the filter ``rule`` blocked: the same text every time, so a resent
    turn is recognised as the one stored."""
    return f"[removed by the {rule} filter]"


def persona_turn_screen(filters: tuple[ContentFilter, ...]) -> Protect:
    """What a stream stores of each persona turn, by the output filters of the policy in force when it opens."""
    if not filters:
        return as_said

    def screened(text: str) -> Guarded:
        started = time.perf_counter()
        hits = screen(text, filters)
        SCREEN_SECONDS.observe(time.perf_counter() - started)
        if not hits:
            return Guarded(text)
        for hit in hits:
            PERSONA_TURNS_FILTERED.labels(hit.category.value, hit.decision.value).inc()
        blocking = next((hit for hit in hits if hit.decision == FilterDecision.BLOCK), None)
        findings = tuple(Finding(CheckKind.OUTPUT_FILTER, _DECISIONS[hit.decision], hit.rule) for hit in hits)
        return Guarded(blocked_marker(blocking.rule) if blocking else text, findings)

    return screened
