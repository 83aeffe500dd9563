"""Precision and recall of the local fact extractor on the labelled calls of tests/data/memory_facts, held-out
calls first (the figure that counts), then the development calls the phrase lists were written on; or of an
OpenAI-compatible model (key in OPENAI_API_KEY), with the calls it gave no usable answer for counted.

    .venv/bin/python -m devtools.memory_facts
    OPENAI_API_KEY=... .venv/bin/python -m devtools.memory_facts --openai-base-url https://api.openai.com/v1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calls.turns import Role, Turn
from persona_svc.adapters.fact_extractors import LocalFactExtractor, ModelFactExtractor
from persona_svc.domain.facts import ExtractedFact, FactKind, ObjectionOutcome, extract_facts
from svckit.openai_json import OpenAIJson

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
LABELS = DATA / "memory_facts" / "labels.json"
CALLS = DATA / "sales_corpus" / "calls"
PARTS = ("held_out", "development")


@dataclass
class Tally:
    found: Counter[str]
    labelled: Counter[str]
    matched: Counter[str]
    outcomes_right: int = 0
    outcomes_compared: int = 0

    @staticmethod
    def empty() -> Tally:
        return Tally(Counter(), Counter(), Counter())


def turns_of(call_id: str) -> list[Turn]:
    call = json.loads((CALLS / f"{call_id}.json").read_text())
    return [Turn(index, Role(turn["role"]), turn["text"]) for index, turn in enumerate(call["turns"], 1)]


# The facts an extractor finds in a labelled call, by the call's id.
FactsOf = Callable[[str], list[ExtractedFact]]


def local_facts(call_id: str) -> list[ExtractedFact]:
    return extract_facts(turns_of(call_id))


def score_call(labels: list[dict[str, Any]], facts: list[ExtractedFact], tally: Tally) -> None:
    """Each fact found matches at most one unmatched label of its kind whose turn it cites."""
    unmatched = list(labels)
    for fact in facts:
        tally.found[fact.kind] += 1
        label = next((lab for lab in unmatched
                      if lab["kind"] == fact.kind and lab["sequence"] in fact.message_sequences), None)
        if label is None:
            continue
        unmatched.remove(label)
        tally.matched[fact.kind] += 1
        if fact.kind is FactKind.OBJECTION:
            tally.outcomes_compared += 1
            tally.outcomes_right += fact.outcome is ObjectionOutcome(label["outcome"])
    for label in labels:
        tally.labelled[label["kind"]] += 1


def labelled_calls() -> list[dict[str, Any]]:
    return json.loads(LABELS.read_text())["calls"]


def tallies(facts_of: FactsOf = local_facts) -> dict[str, Tally]:
    by_part = {part: Tally.empty() for part in PARTS}
    for call in labelled_calls():
        score_call(call["labels"], facts_of(call["call"]), by_part[call["part"]])
    return by_part


def _ratio(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.2f} ({numerator}/{denominator})" if denominator else "n/a"


def table(tally: Tally) -> str:
    lines = ["| kind | precision | recall |", "|---|---|---|"]
    for kind in [*FactKind, None]:
        key = [kind] if kind else list(FactKind)
        found, labelled, matched = (sum(counter[k] for k in key) for counter in
                                    (tally.found, tally.labelled, tally.matched))
        lines.append(f"| {kind.value if kind else '**all**'} | {_ratio(matched, found)} | "
                     f"{_ratio(matched, labelled)} |")
    lines.append(f"\nObjection outcomes right: {_ratio(tally.outcomes_right, tally.outcomes_compared)} of the "
                 "objections found.")
    return "\n".join(lines)


def report(facts_of: FactsOf = local_facts) -> str:
    return "\n\n".join(f"### {part.replace('_', '-')} calls\n\n{table(tally)}"
                       for part, tally in tallies(facts_of).items())


async def model_report(model: OpenAIJson) -> str:
    """The report of the model's facts, each call asked once; a call it gave no usable answer for is scored with the
    local extractor's facts, as the service would store them, and counted."""
    extractor, found, fell_back = ModelFactExtractor(model, LocalFactExtractor()), {}, 0
    try:
        for call in labelled_calls():
            extraction = await extractor.extract(turns_of(call["call"]))
            found[call["call"]], fell_back = extraction.facts, fell_back + (extraction.engine != extractor.name)
    finally:
        await extractor.close()
    return f"{report(found.__getitem__)}\n\nCalls left to the local extractor: {fell_back} of {len(found)}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--openai-base-url", default="", help="an OpenAI-compatible endpoint; unset: local")
    parser.add_argument("--openai-model", default="gpt-4o")
    parser.add_argument("--openai-timeout-seconds", type=float, default=60.0)
    arguments = parser.parse_args()
    if not arguments.openai_base_url:
        print(report())
        return
    print(asyncio.run(model_report(OpenAIJson(arguments.openai_base_url, os.environ.get("OPENAI_API_KEY", ""),
                                              arguments.openai_model, arguments.openai_timeout_seconds, 2))))


if __name__ == "__main__":
    main()
