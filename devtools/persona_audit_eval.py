"""How the persona auditor's flags match the labelled persona turns (tests/data/persona_audit_set): per flaw,
precision and recall of the flagged turns against the labelled ones, on each held-out part first (`held_out`, then
`heldout2`, the second part in heldout2.yaml), then on the development calls the detectors were tuned on.

A turn counts as flagged for a flaw when the audit of its call has a flagged quote of that reason at its sequence.

    .venv/bin/python -m devtools.persona_audit_eval            # the figures, as Markdown
    .venv/bin/python -m devtools.persona_audit_eval --errors development   # the turns it gets wrong, one split
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from calls.persona_audit import PersonaProfile, audit_persona
from calls.scenario_facts import ScenarioFacts
from calls.turns import Role, Turn

_SET_DIRECTORY = Path(__file__).resolve().parents[1] / "tests" / "data" / "persona_audit_set"
# Each file names its own personas and scenarios; its calls play those.
LABELLED_SET = (_SET_DIRECTORY / "calls.yaml", _SET_DIRECTORY / "heldout2.yaml")
SPLITS = ("held_out", "heldout2", "development")
FLAWS = ("early_disclosure", "no_resistance", "unresponsive", "repetition", "contradicts_scenario",
         "out_of_character", "hostility", "minimal_answer")


@dataclass(frozen=True)
class LabelledCall:
    id: str
    split: str
    source: str
    profile: PersonaProfile
    turns: tuple[Turn, ...]
    labels: dict[int, frozenset[str]]  # persona turn sequence -> its flaws


def load(paths: Iterable[Path] = LABELLED_SET) -> list[LabelledCall]:
    return [call for path in paths for call in _load_file(path)]


def _load_file(path: Path) -> list[LabelledCall]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    calls = []
    for call in data["calls"]:
        persona = data["personas"][call["persona"]]
        profile = PersonaProfile(
            archetype=persona["archetype"], difficulty=persona["difficulty"],
            personality_traits=tuple(persona["personality_traits"]), traits=persona["traits"],
            objection_patterns=tuple(persona["objection_patterns"]),
            scenario=ScenarioFacts(**data["scenarios"][call["scenario"]]))
        turns, labels = [], {}
        for sequence, turn in enumerate(call["turns"], start=1):
            role = Role.USER if "candidate" in turn else Role.ASSISTANT
            turns.append(Turn(sequence, role, turn["candidate" if role == Role.USER else "persona"]))
            if role == Role.ASSISTANT:
                labels[sequence] = frozenset(turn.get("flaws", ()))
        calls.append(LabelledCall(call["id"], call["split"], call["source"], profile, tuple(turns), labels))
    return calls


def flagged(call: LabelledCall) -> dict[int, frozenset[str]]:
    """The flaws the audit flags, by persona turn sequence."""
    audit = audit_persona(call.turns, call.profile)
    found: dict[int, set[str]] = {sequence: set() for sequence in call.labels}
    for quote in audit.flagged_quotes:
        if quote.reason.value in FLAWS:
            found[quote.sequence].add(quote.reason.value)
    return {sequence: frozenset(flaws) for sequence, flaws in found.items()}


@dataclass(frozen=True)
class Figures:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float | None:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        labelled = self.true_positives + self.false_negatives
        return self.true_positives / labelled if labelled else None


def figures(calls: Iterable[LabelledCall]) -> dict[str, Figures]:
    counts: Counter[tuple[str, str]] = Counter()
    for call in calls:
        found = flagged(call)
        for sequence, labels in call.labels.items():
            for flaw in FLAWS:
                outcome = {(True, True): "tp", (False, True): "fp", (True, False): "fn"}.get(
                    (flaw in labels, flaw in found[sequence]))
                if outcome:
                    counts[flaw, outcome] += 1
    return {flaw: Figures(counts[flaw, "tp"], counts[flaw, "fp"], counts[flaw, "fn"]) for flaw in FLAWS}


def errors(calls: Iterable[LabelledCall]) -> Iterable[str]:
    for call in calls:
        found = flagged(call)
        texts = {turn.sequence: turn.text for turn in call.turns}
        for sequence, labels in call.labels.items():
            missed, extra = labels - found[sequence], found[sequence] - labels
            if missed or extra:
                yield (f"{call.id} #{sequence} missed {sorted(missed)} extra {sorted(extra)}: "
                       f"{texts[sequence]}")


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def table(calls: list[LabelledCall], split: str) -> str:
    chosen = [call for call in calls if call.split == split]
    turns = sum(len(call.labels) for call in chosen)
    lines = [f"{split.replace('_', '-')}: {len(chosen)} calls, {turns} persona turns", "",
             "| flaw | labelled | flagged | correct | precision | recall |", "|---|--:|--:|--:|--:|--:|"]
    for flaw, result in figures(chosen).items():
        labelled = result.true_positives + result.false_negatives
        flagged_count = result.true_positives + result.false_positives
        lines.append(f"| {flaw} | {labelled} | {flagged_count} | {result.true_positives} | "
                     f"{_ratio(result.precision)} | {_ratio(result.recall)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--errors", choices=SPLITS, help="list the turns of this split the auditor gets wrong")
    arguments = parser.parse_args()
    calls = load()
    if arguments.errors:
        print("\n".join(errors(call for call in calls if call.split == arguments.errors)))
        return
    print("\n\n".join(table(calls, split) for split in SPLITS))


if __name__ == "__main__":
    main()
