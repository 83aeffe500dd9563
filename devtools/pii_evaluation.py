"""How the PII rules (guardrails.pii) do on the labelled utterances of tests/data/guardrails: precision and recall of
what they find, and how many labelled values would still be stored under the default handling (leaks), on the
held-out part (the figure that counts) and on the development part the rules were tuned on.

A found span counts when it overlaps a labelled value of the same kind; precision is over found spans, recall over
labelled values.

    .venv/bin/python -m devtools.pii_evaluation [--part held-out|development]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from guardrails.pii import PiiFound, PiiProtector
from guardrails.pii_policy import DEFAULT_PII_HANDLING, PiiKind

LABELLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "guardrails"
PARTS = (("held-out", "pii_held_out.jsonl"), ("development", "pii_development.jsonl"))


@dataclass(frozen=True)
class Labelled:
    text: str
    values: tuple[tuple[PiiKind, int, int], ...]


def load(file_name: str) -> list[Labelled]:
    utterances = []
    for line in (LABELLED / file_name).read_text().splitlines():
        record = json.loads(line)
        text = record["text"]
        values = tuple((PiiKind(kind), text.index(value), text.index(value) + len(value))
                       for kind, value in record["pii"])
        utterances.append(Labelled(text, values))
    return utterances


@dataclass
class Score:
    found: Counter[PiiKind] = field(default_factory=Counter)
    found_right: Counter[PiiKind] = field(default_factory=Counter)
    labelled: Counter[PiiKind] = field(default_factory=Counter)
    labelled_found: Counter[PiiKind] = field(default_factory=Counter)
    leaks: int = 0
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)


def _overlaps(found: PiiFound, value: tuple[PiiKind, int, int]) -> bool:
    return found.kind == value[0] and found.start < value[2] and value[1] < found.end


def evaluate(protector: PiiProtector, utterances: list[Labelled]) -> Score:
    score = Score()
    for utterance in utterances:
        found = protector.find(utterance.text)
        for span in found:
            score.found[span.kind] += 1
            if any(_overlaps(span, value) for value in utterance.values):
                score.found_right[span.kind] += 1
            else:
                score.false_alarms.append(f"{span.kind}: {utterance.text[span.start:span.end]!r}")
        stored = protector.protect(utterance.text, DEFAULT_PII_HANDLING, "evaluation")
        for value in utterance.values:
            kind, start, end = value
            score.labelled[kind] += 1
            if any(_overlaps(span, value) for span in found):
                score.labelled_found[kind] += 1
            else:
                score.misses.append(f"{kind}: {utterance.text[start:end]!r}")
            if utterance.text[start:end] in stored:
                score.leaks += 1
    return score


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.2f} ({part}/{whole})" if whole else "-"


def report(name: str, score: Score) -> str:
    lines = [f"### {name}", "", "| kind | precision | recall |", "|---|---|---|"]
    for kind in PiiKind:
        lines.append(f"| {kind} | {_ratio(score.found_right[kind], score.found[kind])} "
                     f"| {_ratio(score.labelled_found[kind], score.labelled[kind])} |")
    total_found, total_labelled = sum(score.found.values()), sum(score.labelled.values())
    lines.append(f"| **all** | {_ratio(sum(score.found_right.values()), total_found)} "
                 f"| {_ratio(sum(score.labelled_found.values()), total_labelled)} |")
    lines += ["", f"Labelled values still stored under the default handling: {_ratio(score.leaks, total_labelled)}.",
              "", "Missed: " + ("; ".join(score.misses) or "none") + ".",
              "", "Found where nothing is labelled: " + ("; ".join(score.false_alarms) or "none") + ".", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=[name for name, _ in PARTS], help="score only this part")
    part = parser.parse_args().part
    protector = PiiProtector(b"evaluation")
    for name, file_name in PARTS:
        if part in (None, name):
            print(report(f"{name} ({file_name})", evaluate(protector, load(file_name))))


if __name__ == "__main__":
    main()
