"""How the content filters (guardrails.filters) do on the labelled turns of tests/data/guardrails: precision and
recall of each filter, on the held-out part (the figure that counts) and on the development part the rules were
written from. The candidate's turns go through the HR track's default input filters, the persona's through the
default output filters; a turn counts as found by a filter when that filter matches it.

    .venv/bin/python -m devtools.filter_evaluation [--part held-out|development]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from calls.job_tracks import Blueprint
from guardrails.filters import FilterCategory, screen
from persona_svc.domain.safety import default_policy

LABELLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "guardrails"
PARTS = (("held-out", "filters_held_out.jsonl"), ("development", "filters_development.jsonl"))
_HR_DEFAULTS = default_policy(Blueprint.HR)
FILTERS_BY_SIDE = {"candidate": _HR_DEFAULTS.input_filters, "persona": _HR_DEFAULTS.output_filters}


@dataclass(frozen=True)
class LabelledTurn:
    side: str
    text: str
    category: FilterCategory | None


def load(file_name: str) -> list[LabelledTurn]:
    turns = []
    for line in (LABELLED / file_name).read_text().splitlines():
        record = json.loads(line)
        category = FilterCategory(record["category"]) if record["category"] else None
        turns.append(LabelledTurn(record["side"], record["text"], category))
    return turns


@dataclass
class Score:
    found: Counter[FilterCategory] = field(default_factory=Counter)
    found_right: Counter[FilterCategory] = field(default_factory=Counter)
    labelled: Counter[FilterCategory] = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)


def evaluate(turns: list[LabelledTurn]) -> Score:
    score = Score()
    for turn in turns:
        found = {hit.category for hit in screen(turn.text, FILTERS_BY_SIDE[turn.side])}
        if turn.category is not None:
            score.labelled[turn.category] += 1
            if turn.category not in found:
                score.misses.append(f"{turn.category}: {turn.text!r}")
        for category in found:
            score.found[category] += 1
            if category == turn.category:
                score.found_right[category] += 1
            else:
                score.false_alarms.append(f"{category}: {turn.text!r}")
    return score


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.2f} ({part}/{whole})" if whole else "-"


def report(name: str, score: Score) -> str:
    lines = [f"### {name}", "", "| filter | precision | recall |", "|---|---|---|"]
    for category in (c for c in FilterCategory if c != FilterCategory.PATTERN):
        lines.append(f"| {category} | {_ratio(score.found_right[category], score.found[category])} "
                     f"| {_ratio(score.found_right[category], score.labelled[category])} |")
    lines += ["", "Missed: " + ("; ".join(score.misses) or "none") + ".",
              "", "Found where nothing (or another filter) is labelled: " + ("; ".join(score.false_alarms) or "none")
              + ".", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=[name for name, _ in PARTS], help="score only this part")
    part = parser.parse_args().part
    for name, file_name in PARTS:
        if part in (None, name):
            print(report(f"{name} ({file_name})", evaluate(load(file_name))))


if __name__ == "__main__":
    main()
