"""How the persona auditor's flags match the labelled persona turns (tests/data/persona_audit_set): per flaw,
precision and recall of the flagged turns against the labelled ones, on each held-out part first (`held_out`, then
`heldout2` to `heldout21`, the second to twenty-first parts in heldout2.yaml to heldout21.yaml), then on the
development calls the detectors were tuned on. Every part up to `heldout20` is development data now (`heldout15` to
`heldout20` since their first runs). `heldout21`, in heldout21.yaml, is in no fit or cross-validation: it was run
once, blind, with the auditor fitted on the twenty-one development parts. A part still blind is not listed, so nothing
here reads it.

A turn counts as flagged for a flaw when the audit of its call has a flagged quote of that reason at its sequence.

`--cv` cross-validates on the development data (the development part and the twenty held-out parts the detectors
have since been read with, `heldout15` to `heldout20` since their first runs), leaving one call out at a time: the
threshold each of five flaws turns on (`AuditRules`) is chosen for the best F1 on the other calls, and each reading
a detector may do without is kept only when the other calls are read better with it; the call left out is audited
with those choices. It says whether the figures hang on a threshold fitted to the set or on a reading only one call
supports; the rules themselves were written with every development call in view, so only a part kept blind
measures them out of sample. It audits with the rules alone: the fitted classifiers were fitted on every call, and
what measures them is leaving a part out.

`--parts` leaves one whole part out at a time instead: whatever is fitted is fitted on the other parts and the part
left out is scored with it, per part and pooled. A part is one writer's wording, so this is the nearest the
development data comes to a new writer's part; the rules themselves have read every part, so for them it is in sample.

    .venv/bin/python -m devtools.persona_audit_eval            # the figures, as Markdown
    .venv/bin/python -m devtools.persona_audit_eval --errors development   # the turns it gets wrong, one split
    .venv/bin/python -m devtools.persona_audit_eval --cv       # leave-one-call-out figures on the development data,
                                                               # per flaw and by part
    .venv/bin/python -m devtools.persona_audit_eval --parts    # leave-one-part-out figures, per flaw and by part
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from calls.fitted_flaws import FlawClassifier
from calls.persona_audit import (
    DEFAULT_RULES,
    FITTED_CLASSIFIERS,
    AuditRules,
    PersonaProfile,
    Reading,
    audit_persona,
)
from calls.scenario_facts import ScenarioFacts
from calls.turns import Role, Turn

_SET_DIRECTORY = Path(__file__).resolve().parents[1] / "tests" / "data" / "persona_audit_set"
SPLITS = ("held_out", "heldout2", "heldout3", "heldout4", "heldout5", "heldout6", "heldout7", "heldout8", "heldout9",
          "heldout10", "heldout11", "heldout12", "heldout13", "heldout14", "heldout15",
          "heldout16", "heldout17", "heldout18", "heldout19", "heldout20", "heldout21", "development")
# calls.yaml holds the first split's two parts; every later part is its own file, named as its split. Each file names
# its own personas and scenarios; its calls play those.
LABELLED_SET = (_SET_DIRECTORY / "calls.yaml",
                *(_SET_DIRECTORY / f"{split}.yaml" for split in SPLITS if split.startswith("heldout")))
FLAWS = ("early_disclosure", "no_resistance", "unresponsive", "repetition", "contradicts_scenario",
         "out_of_character", "hostility", "minimal_answer")
RULES_ALONE: Mapping[str, FlawClassifier] = {}
# The calls a cross-validation may use: every part the detectors were written or fixed with in view.
DEVELOPMENT_SPLITS = ("development", "held_out", "heldout2", "heldout3", "heldout4", "heldout5", "heldout6",
                      "heldout7", "heldout8", "heldout9", "heldout10", "heldout11", "heldout12", "heldout13",
                      "heldout14", "heldout15", "heldout16", "heldout17", "heldout18", "heldout19", "heldout20")
# The threshold each fold chooses for a flaw, and the values it chooses from (the default first, so a tie keeps it).
THRESHOLD_CHOICES: dict[str, tuple[str, tuple[int, ...]]] = {
    "early_disclosure": ("guarded_difficulty", (DEFAULT_RULES.guarded_difficulty, 2, 3, 5)),
    "no_resistance": ("resisting_difficulty", (DEFAULT_RULES.resisting_difficulty, 2, 4, 5)),
    "unresponsive": ("responsive_min_words", (DEFAULT_RULES.responsive_min_words, 3, 4, 5, 7, 8)),
    "minimal_answer": ("minimal_words", (DEFAULT_RULES.minimal_words, 1, 2, 4, 5)),
    "contradicts_scenario": ("range_margin_percent", (DEFAULT_RULES.range_margin_percent, 10, 20, 30, 50)),
}
# The readings each flaw's detector uses that a fold may leave out: it keeps one only when the other calls are read
# better with it than without, so a reading that only the call left out supports is not used on that call.
READING_CHOICES: dict[str, tuple[Reading, ...]] = {
    "early_disclosure": (Reading.OBJECTING_SENTENCE, Reading.WHAT_IT_COUNTS, Reading.UNSCALED,
                         Reading.DEADLINE_WORDS, Reading.SIGNER_ANSWERED, Reading.ROLE_SIGNS, Reading.DUE_IN,
                         Reading.FACT_IN_OBJECTION, Reading.TIMING_ASKED, Reading.ECHOED, Reading.PAST_SUM,
                         Reading.OBJECTION_ANSWERED, Reading.SCENARIO_DEADLINE, Reading.RATE),
    "no_resistance": (Reading.ACKNOWLEDGEMENT, Reading.OWN_QUESTION, Reading.OBJECTED_BEFORE, Reading.ECHO,
                      Reading.ACCEPTING_CLAUSE, Reading.PRAISE, Reading.APPROVAL, Reading.SETTLED_CONCERN,
                      Reading.AGREED_AFTER_ECHO, Reading.CONCLUDED, Reading.WORRY_DISMISSED,
                      Reading.DOUBT_TO_A_CLAIM),
    "unresponsive": (Reading.DECLINING, Reading.ANSWER_SAID_AGAIN, Reading.AMOUNT, Reading.TIME_TO_COME,
                     Reading.POINTING_BACK, Reading.REASON, Reading.SMALL_TALK, Reading.YES_OR_NO,
                     Reading.QUESTION_SAID_AGAIN, Reading.DIGRESSION, Reading.SHORT_SAID_AGAIN, Reading.ELLIPTICAL,
                     Reading.NAMED, Reading.BREAK_FOR_ANSWER),
    "repetition": (Reading.SHORT_SAID_AGAIN, Reading.SAME_POINT),
    "minimal_answer": (Reading.COUNTED,),
    "out_of_character": (Reading.STEPPING_OUT, Reading.ASSISTANT_VOICE, Reading.META_VOICE, Reading.NARRATION,
                         Reading.EVALUATOR_VOICE),
    "hostility": (Reading.CONTEMPT, Reading.WORTH_VERDICT, Reading.CHARACTERISATION, Reading.COMPARISON),
    "contradicts_scenario": (Reading.SPAN, Reading.WHAT_IT_COUNTS, Reading.UNSCALED, Reading.NO_DEADLINE,
                             Reading.TIMING_ASKED, Reading.DATE_AGREED, Reading.TOLD_IN_THE_PAST,
                             Reading.PERIOD, Reading.OURS, Reading.EVERYONE, Reading.SCENARIO_EVENT),
}


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


def flagged(call: LabelledCall, rules: AuditRules = DEFAULT_RULES,
            classifiers: Mapping[str, FlawClassifier] = FITTED_CLASSIFIERS) -> dict[int, frozenset[str]]:
    """The flaws the audit flags, by persona turn sequence."""
    audit = audit_persona(call.turns, call.profile, rules, classifiers)
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

    @property
    def f1(self) -> float:
        found = 2 * self.true_positives + self.false_positives + self.false_negatives
        return 2 * self.true_positives / found if found else 1.0

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.true_positives + other.true_positives, self.false_positives + other.false_positives,
                       self.false_negatives + other.false_negatives)

    def __sub__(self, other: Figures) -> Figures:
        return Figures(self.true_positives - other.true_positives, self.false_positives - other.false_positives,
                       self.false_negatives - other.false_negatives)


NOTHING = Figures(0, 0, 0)


def call_figures(call: LabelledCall, found: dict[int, frozenset[str]], flaw: str) -> Figures:
    """One call's turns for one flaw, as counts."""
    pairs = [(flaw in labels, flaw in found[sequence]) for sequence, labels in call.labels.items()]
    return Figures(pairs.count((True, True)), pairs.count((False, True)), pairs.count((True, False)))


def counted(calls: Iterable[LabelledCall], detect: Detector) -> dict[str, Figures]:
    """Per flaw, the turns ``detect`` flags in ``calls`` counted against their labels."""
    totals = dict.fromkeys(FLAWS, NOTHING)
    for call in calls:
        found = detect(call)
        for flaw in FLAWS:
            totals[flaw] += call_figures(call, found, flaw)
    return totals


def figures(calls: Iterable[LabelledCall]) -> dict[str, Figures]:
    return counted(calls, flagged)


@dataclass(frozen=True)
class FoldChoices:
    """What the folds of a cross-validation chose for one flaw: each threshold value, and each reading left out,
    with the number of folds that chose it."""

    thresholds: Counter[int]
    left_out: Counter[Reading]


@dataclass
class _FlawChoices:
    """One flaw's figures on each call, by threshold value and readings left out, each audited once."""

    calls: list[LabelledCall]
    flaw: str
    threshold: str  # "" when the flaw turns on none
    audits: dict[AuditRules, list[dict[int, frozenset[str]]]]  # every call's flags by rules, shared by the flaws
    results: dict[tuple[int, frozenset[Reading]], tuple[list[Figures], Figures]] = field(default_factory=dict)

    def per_call(self, value: int, left_out: frozenset[Reading] = frozenset()) -> tuple[list[Figures], Figures]:
        """Each call's figures with these choices, and their sum."""
        if (value, left_out) not in self.results:
            rules = replace(DEFAULT_RULES, readings=DEFAULT_RULES.readings - left_out,
                            **({self.threshold: value} if self.threshold else {}))
            if rules not in self.audits:
                self.audits[rules] = [flagged(call, rules, RULES_ALONE) for call in self.calls]
            each = [call_figures(call, found, self.flaw)
                    for call, found in zip(self.calls, self.audits[rules], strict=True)]
            self.results[value, left_out] = each, sum(each, NOTHING)
        return self.results[value, left_out]

    def trained(self, left_alone: int, value: int, left_out: frozenset[Reading] = frozenset()) -> float:
        """F1 on every call but the one left alone."""
        each, whole = self.per_call(value, left_out)
        return (whole - each[left_alone]).f1


def cross_validated(calls: list[LabelledCall]) -> tuple[dict[str, Figures], dict[str, FoldChoices]]:
    """Leave-one-call-out figures per flaw, and what the folds chose (`cross_validated_calls`, summed)."""
    each, chosen = cross_validated_calls(calls)
    totals = {flaw: sum((figures[flaw] for figures in each), NOTHING) for flaw in FLAWS}
    return totals, chosen


def cross_validated_calls(calls: list[LabelledCall]) -> tuple[list[dict[str, Figures]], dict[str, FoldChoices]]:
    """Each call's leave-one-call-out figures per flaw, and what the folds chose. Each fold chooses, on the other
    calls, the flaw's threshold (best F1 with every reading), then leaves out each reading the other calls do as well
    without; the call left out is audited with those choices. A flaw with nothing to choose is audited with the
    defaults on every call, so its figure is the in-sample one."""
    each: list[dict[str, Figures]] = [{} for _ in calls]
    chosen = {flaw: FoldChoices(Counter(), Counter()) for flaw in FLAWS}
    audits: dict[AuditRules, list[dict[int, frozenset[str]]]] = {}
    for flaw in FLAWS:
        threshold, values = THRESHOLD_CHOICES.get(flaw, ("", (0,)))
        choices = _FlawChoices(calls, flaw, threshold, audits)
        for index in range(len(calls)):
            trained = {value: choices.trained(index, value) for value in values}
            best = max(values, key=trained.__getitem__)  # max keeps the first of equals: the default when it ties
            left_out = frozenset(reading for reading in READING_CHOICES.get(flaw, ())
                                 if choices.trained(index, best, frozenset({reading})) >= choices.trained(index, best))
            each[index][flaw] = choices.per_call(best, left_out)[0][index]
            if threshold:
                chosen[flaw].thresholds[best] += 1
            chosen[flaw].left_out.update(left_out)
    return each, chosen


# A detector gives each persona turn of a call its flaws; fitting one on some calls gives a detector.
Detector = Callable[[LabelledCall], dict[int, frozenset[str]]]
Fitting = Callable[[list[LabelledCall]], Detector]


def rules_alone(training: list[LabelledCall]) -> Detector:
    """The rules as shipped, without the classifiers: nothing in them is fitted on the calls given."""
    return lambda call: flagged(call, classifiers=RULES_ALONE)


def leave_one_part_out(calls: list[LabelledCall], fit: Fitting) -> dict[str, dict[str, Figures]]:
    """Per part, per flaw: the part's figures with a detector fitted on every other part. The folds are independent and
    each refits everything, so they run side by side, a process a core."""
    parts = list(dict.fromkeys(call.split for call in calls))
    workers = min(len(parts), os.cpu_count() or 1)
    # Spawned, not forked: the caller may hold threads (a test run's gRPC servers) that a fork would copy mid-lock.
    with ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"), _receive_folds, (calls, fit)) as pool:
        return dict(zip(parts, pool.map(_held_part, parts), strict=True))


# What every fold of a worker process reads: the calls and the fitting, sent once per process instead of once a fold.
_FOLDS: dict[str, Any] = {}


def _receive_folds(calls: list[LabelledCall], fit: Fitting) -> None:
    _FOLDS.update(calls=calls, fit=fit)


def _held_part(part: str) -> dict[str, Figures]:
    calls: list[LabelledCall] = _FOLDS["calls"]
    detect = _FOLDS["fit"]([call for call in calls if call.split != part])
    return counted((call for call in calls if call.split == part), detect)


def pooled(by_part: dict[str, dict[str, Figures]]) -> dict[str, Figures]:
    return {flaw: sum((figures[flaw] for figures in by_part.values()), NOTHING) for flaw in FLAWS}


def _cell(result: Figures) -> str:
    return f"{_ratio(result.precision)} / {_ratio(result.recall)}"


def leave_one_part_out_table(calls: list[LabelledCall], fittings: dict[str, Fitting]) -> str:
    """Each fitting's leave-one-part-out figures (precision / recall), pooled and by part."""
    development = [call for call in calls if call.split in DEVELOPMENT_SPLITS]
    held = {name: leave_one_part_out(development, fit) for name, fit in fittings.items()}
    lines = [f"leave-one-part-out on {', '.join(DEVELOPMENT_SPLITS)}: {len(development)} calls", "",
             "| flaw | " + " | ".join(f"{name}, pooled" for name in held) + " |", "|---|" + "--:|" * len(held)]
    totals = {name: pooled(by_part) for name, by_part in held.items()}
    lines += [f"| {flaw} | " + " | ".join(_cell(total[flaw]) for total in totals.values()) + " |" for flaw in FLAWS]
    for name, by_part in held.items():
        lines += ["", f"{name}, by part held out:", "", "| part | " + " | ".join(FLAWS) + " |",
                  "|---|" + "--:|" * len(FLAWS)]
        lines += [f"| {part} | " + " | ".join(_cell(figures[flaw]) for flaw in FLAWS) + " |"
                  for part, figures in by_part.items()]
    return "\n".join(lines)


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


def row(flaw: str, result: Figures) -> str:
    labelled = result.true_positives + result.false_negatives
    flagged_count = result.true_positives + result.false_positives
    return (f"| {flaw} | {labelled} | {flagged_count} | {result.true_positives} | "
            f"{_ratio(result.precision)} | {_ratio(result.recall)} |")


def table(calls: list[LabelledCall], split: str) -> str:
    chosen = [call for call in calls if call.split == split]
    turns = sum(len(call.labels) for call in chosen)
    lines = [f"{split.replace('_', '-')}: {len(chosen)} calls, {turns} persona turns", "",
             *figures_table(figures(chosen))]
    return "\n".join(lines)


def figures_table(results: Mapping[str, Figures]) -> list[str]:
    """A markdown table of each flaw's counts, precision and recall."""
    return ["| flaw | labelled | flagged | correct | precision | recall |", "|---|--:|--:|--:|--:|--:|",
            *(row(flaw, result) for flaw, result in results.items())]


def cross_validation_table(calls: list[LabelledCall]) -> str:
    development = [call for call in calls if call.split in DEVELOPMENT_SPLITS]
    each, chosen = cross_validated_calls(development)
    turns = sum(len(call.labels) for call in development)
    lines = [f"leave-one-call-out on {', '.join(DEVELOPMENT_SPLITS)}: {len(development)} calls, {turns} persona "
             "turns", "", "| flaw | labelled | flagged | correct | precision | recall | threshold chosen (folds) | "
             "readings left out (folds) |", "|---|--:|--:|--:|--:|--:|---|---|"]
    for flaw in FLAWS:
        result = sum((figures[flaw] for figures in each), NOTHING)
        name = THRESHOLD_CHOICES.get(flaw, ("",))[0]
        thresholds = ", ".join(f"{value} ({folds})" for value, folds in sorted(chosen[flaw].thresholds.items()))
        left_out = ", ".join(f"{reading} ({folds})" for reading, folds in sorted(chosen[flaw].left_out.items()))
        lines.append(f"{row(flaw, result)} {f'{name}: {thresholds}' if name else ''} | {left_out} |")
    # The same folds, their calls summed by the part they belong to: precision / recall.
    lines += ["", "| part | " + " | ".join(FLAWS) + " |", "|---|" + "--:|" * len(FLAWS)]
    for split in DEVELOPMENT_SPLITS:
        part = [figures for call, figures in zip(development, each, strict=True) if call.split == split]
        cells = (sum((figures[flaw] for figures in part), NOTHING) for flaw in FLAWS)
        lines.append(f"| {split} | " + " | ".join(f"{_ratio(cell.precision)} / {_ratio(cell.recall)}"
                                                   for cell in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--errors", choices=SPLITS, help="list the turns of this split the auditor gets wrong")
    parser.add_argument("--cv", action="store_true", help="leave-one-call-out figures on the development data")
    parser.add_argument("--parts", action="store_true", help="leave-one-part-out figures on the development data")
    arguments = parser.parse_args()
    calls = load()
    if arguments.cv:
        print(cross_validation_table(calls))
        return
    if arguments.parts:
        from devtools.fit_persona_audit import with_classifiers  # scikit-learn is needed for this only

        print(leave_one_part_out_table(calls, {"rules alone": rules_alone, "rules or classifier": with_classifiers()}))
        return
    if arguments.errors:
        print("\n".join(errors(call for call in calls if call.split == arguments.errors)))
        return
    print("\n\n".join(table(calls, split) for split in SPLITS))


if __name__ == "__main__":
    main()
