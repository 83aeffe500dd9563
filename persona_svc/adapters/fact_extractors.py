"""Fact extractors behind the service layer's port: the deterministic local one, and any OpenAI-compatible model
with the local one standing in whenever the model gives no usable answer in time.

A model's fact is kept only if it is one as asked (a known kind, a text, a confidence of 0 to 1) and cites messages
of the call, all of them existing: the model may not remember what nobody said. Every fact left out is counted."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Histogram

from calls.turns import TRANSCRIPT_IS_DATA, Role, Turn, transcript_json
from persona_svc.domain.facts import (
    MAX_FACT_CHARS,
    MAX_FACTS_PER_SESSION,
    ExtractedFact,
    Extraction,
    FactKind,
    ObjectionOutcome,
    extract_facts,
    topic_of,
)
from svckit.openai_json import INVALID_ANSWER, EngineFailure, OpenAIJson, within_deadline

log = logging.getLogger("persona.fact_extractors")

FALLBACKS = Counter("sparring_memory_fact_fallbacks_total",
                    "Ended calls whose facts the local extractor found because the model gave no usable answer.",
                    ("reason",))
DROPPED = Counter("sparring_memory_model_facts_dropped_total",
                  "Facts of a model's answer left out: citing a message the call does not have, not a fact as asked, "
                  "or beyond the most a session keeps.", ("reason",))
EXTRACTION_SECONDS = Histogram("sparring_memory_fact_extraction_seconds",
                               "Time to find an ended call's facts, by the engine that found them.", ("engine",),
                               buckets=(0.001, 0.01, 0.1, 0.5, 1, 2, 5, 10, 30))
UNKNOWN_MESSAGE, NOT_A_FACT, TOO_MANY = "unknown_message", "not_a_fact", "too_many"

PROMPTS = Path(__file__).resolve().parent / "prompts"
# A change to the prompt is a new version of the file, kept beside the old one until nothing uses it.
FACT_EXTRACTION_PROMPT = "fact_extraction.v1.txt"
SPEAKERS = {Role.USER: "candidate", Role.ASSISTANT: "persona"}
SYSTEM_PROMPT = (PROMPTS / FACT_EXTRACTION_PROMPT).read_text().rstrip("\n").format(
    transcript_is_data=TRANSCRIPT_IS_DATA, kinds=", ".join(f'"{kind.value}"' for kind in FactKind),
    max_facts=MAX_FACTS_PER_SESSION, max_fact_chars=MAX_FACT_CHARS)
_KINDS = [kind.value for kind in FactKind]  # a list: the model may send an unhashable kind
_OUTCOMES = {"open": ObjectionOutcome.OPEN, "handled": ObjectionOutcome.HANDLED}


class LocalFactExtractor:
    name = "local"

    async def extract(self, turns: list[Turn], deadline: float | None = None) -> Extraction:
        started = time.monotonic()
        facts = extract_facts(turns)
        EXTRACTION_SECONDS.labels(self.name).observe(time.monotonic() - started)
        return Extraction(self.name, facts)


class ModelFactExtractor:
    name = "openai"

    def __init__(self, model: OpenAIJson, fallback: LocalFactExtractor) -> None:
        self._model = model
        self._fallback = fallback

    async def extract(self, turns: list[Turn], deadline: float | None = None) -> Extraction:
        started = time.monotonic()
        try:
            answer = await within_deadline(
                self._model.complete_json(SYSTEM_PROMPT, transcript_json(turns, SPEAKERS)), deadline)
            facts = model_facts(answer, {turn.sequence for turn in turns})
        except EngineFailure as failure:
            FALLBACKS.labels(failure.reason).inc()
            log.warning("the local extractor finds the call's facts: the model gave no usable answer (%s)", failure)
            return await self._fallback.extract(turns, deadline)
        EXTRACTION_SECONDS.labels(self.name).observe(time.monotonic() - started)
        return Extraction(self.name, facts)

    async def close(self) -> None:
        await self._model.close()


def model_facts(answer: dict[str, Any], sequences: set[int]) -> list[ExtractedFact]:
    """The facts of a model's answer that cite only messages of the call and are facts as asked; the others are
    left out and counted. An answer without a list of facts is INVALID_ANSWER."""
    found = answer.get("facts")
    if not isinstance(found, list):
        raise EngineFailure(INVALID_ANSWER, "the answer has no list of facts")
    facts: list[ExtractedFact] = []
    for item in found:
        fact = _fact(item)
        if fact is None:
            DROPPED.labels(NOT_A_FACT).inc()
        elif not set(fact.message_sequences) <= sequences:
            DROPPED.labels(UNKNOWN_MESSAGE).inc()
        elif len(facts) == MAX_FACTS_PER_SESSION:
            DROPPED.labels(TOO_MANY).inc()
        else:
            facts.append(fact)
    return facts


def _fact(item: Any) -> ExtractedFact | None:
    """One fact of the answer, or None when it is not one as asked."""
    if not isinstance(item, dict) or item.get("kind") not in _KINDS:
        return None
    kind, text, cited = FactKind(item["kind"]), item.get("text"), item.get("message_sequences")
    confidence, outcome = item.get("confidence"), item.get("outcome", "")
    if not (isinstance(text, str) and text.strip() and isinstance(cited, list) and cited
            and all(isinstance(sequence, int) and not isinstance(sequence, bool) for sequence in cited)
            and isinstance(confidence, int | float) and not isinstance(confidence, bool) and 0 <= confidence <= 1):
        return None
    objection = kind is FactKind.OBJECTION
    if objection and (not isinstance(outcome, str) or outcome not in _OUTCOMES):
        return None
    text = " ".join(text.split())[:MAX_FACT_CHARS]
    return ExtractedFact(kind, text, topic_of(text), tuple(dict.fromkeys(cited)), float(confidence),
                         _OUTCOMES[outcome] if objection else ObjectionOutcome.NONE)
