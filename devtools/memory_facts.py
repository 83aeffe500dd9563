"""Precision and recall of the local fact extractor on the labelled calls of tests/data/memory_facts, held-out
calls first (the figure that counts), then the development calls the phrase lists were written on.

    .venv/bin/python -m devtools.memory_facts
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calls.turns import Role, Turn
from persona_svc.domain.facts import FactKind, ObjectionOutcome, extract_facts

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


def score_call(labels: list[dict[str, Any]], turns: list[Turn], tally: Tally) -> None:
    """Each fact found matches at most one unmatched label of its kind whose turn it cites."""
    unmatched = list(labels)
    for fact in extract_facts(turns):
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


def tallies() -> dict[str, Tally]:
    by_part = {part: Tally.empty() for part in PARTS}
    for call in json.loads(LABELS.read_text())["calls"]:
        score_call(call["labels"], turns_of(call["call"]), by_part[call["part"]])
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


def report() -> str:
    return "\n\n".join(f"### {part.replace('_', '-')} calls\n\n{table(tally)}" for part, tally in tallies().items())


if __name__ == "__main__":
    print(report())
