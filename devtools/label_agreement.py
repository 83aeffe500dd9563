"""How far two labellers agree on the same calls, each blind to the other's labels: the most a figure measured against
one labeller's labels can show, next to what the engine shows against each of them.

``sales``: the fourteenth and fifteenth English sales parts (tests/data/sales_corpus_heldout14 and 15), each labelled
1-5 by the coach who wrote it from each call's source, and again by a second coach (one for each part) given only the
rubric and each call's turns, the calls renamed and shuffled, nothing else of the part (``second_coach.json`` beside
its calls). The meter reads a part as it did at its blind run: fitted on the English parts before it, its choices made
there (``say_meter_text_models.meter_on``).

``audit``: the sixteenth and seventeenth held-out parts of the persona audit set (``heldout16.yaml``,
``heldout17.yaml``), each labelled by the labeller who wrote it, and again by a second labeller (one for each part)
given only the labelling rules and the earlier parts' readings, the personas, the scenarios and each call's turns,
renamed and shuffled (``second_labeller/<part>.yaml``). The auditor reads a part with its classifiers fitted on every
other development part, as leaving a part out fits them.

Each is read as a detector against the other's labels: the second labeller's labels as precision and recall against
the writer's, with Cohen's kappa (quadratic weights for the ordered 1-5 labels), which discounts the agreement chance
alone gives.

    .venv/bin/python -m devtools.label_agreement [sales|audit] [--engine]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from sklearn.metrics import cohen_kappa_score

from devtools import persona_audit_eval as audit_eval
from devtools.persona_audit_eval import FLAWS, Figures, LabelledCall
from devtools.say_meter_corpus import (
    ENGLISH_CORPORA,
    ENGLISH_PARTS,
    held_out,
    interval,
    kendall,
    load_calls,
    spearman,
)
from devtools.say_meter_text_models import ADOPTED, RUBRIC_WEIGHTS, Calls, load, meter_on

SALES_PARTS = (held_out(14), held_out(15))  # each labelled twice
SECOND_COACH = "second_coach.json"  # beside a part's calls
SECOND_LABELLERS = Path(audit_eval.__file__).resolve().parents[1] / "tests" / "data" / "persona_audit_set" / \
    "second_labeller"
AUDIT_PARTS = ("heldout16", "heldout17")
DIMENSIONS = tuple(RUBRIC_WEIGHTS)


@dataclass(frozen=True)
class Coaches:
    """The labels of one part's calls, in the order of their ids: the writer's and the second coach's."""

    ids: tuple[str, ...]
    writer: tuple[int, ...]
    second: tuple[int, ...]
    writer_dimensions: Mapping[str, tuple[int, ...]]
    second_dimensions: Mapping[str, tuple[int, ...]]


def second_coach_file(part: str) -> Path:
    return ENGLISH_PARTS[part][0] / SECOND_COACH


def coaches(part: str) -> Coaches:
    calls = load_calls(part)
    second = json.loads(second_coach_file(part).read_text())
    if set(second) != {call["id"] for call in calls}:
        raise ValueError(f"{SECOND_COACH} of {part} must label exactly the part's calls")
    return Coaches(
        ids=tuple(call["id"] for call in calls),
        writer=tuple(call["label"] for call in calls),
        second=tuple(second[call["id"]]["label"] for call in calls),
        writer_dimensions={name: tuple(call["dimensions"][name] for call in calls) for name in DIMENSIONS},
        second_dimensions={name: tuple(second[call["id"]]["dimensions"][name] for call in calls)
                           for name in DIMENSIONS})


def ordinal_agreement(xs: Sequence[int], ys: Sequence[int]) -> str:
    low, high = interval(xs, ys)
    exact = sum(x == y for x, y in zip(xs, ys, strict=True)) / len(xs)
    within_one = sum(abs(x - y) <= 1 for x, y in zip(xs, ys, strict=True)) / len(xs)
    kappa = cohen_kappa_score(xs, ys, weights="quadratic")
    return (f"Spearman {spearman(xs, ys):.2f} ({low:.2f} to {high:.2f}), Kendall {kendall(xs, ys):.2f}, "
            f"quadratic kappa {kappa:.2f}, the same label {exact:.0%}, within one {within_one:.0%}")


def sales_report(engine: bool) -> str:
    corpus = load()[0] if engine else None  # the words' corpus, read once for every part's fit
    return "\n\n".join(_sales_part(part, corpus) for part in SALES_PARTS)


def _sales_part(part: str, corpus: Calls | None) -> str:
    labels = coaches(part)
    lines = [f"{part}: {len(labels.ids)} calls",
             f" the second coach against the writer: {ordinal_agreement(labels.writer, labels.second)}"]
    lines += [f"  {name}: Spearman {spearman(labels.writer_dimensions[name], labels.second_dimensions[name]):.2f}"
              for name in DIMENSIONS]
    lines.append(f" labels 1-5, the writer: {_counts(labels.writer)}; the second coach: {_counts(labels.second)}")
    if corpus is not None:
        meter = _meter_at_blind_run(part, corpus, len(labels.ids))
        mean = [(a + b) / 2 for a, b in zip(labels.writer, labels.second, strict=True)]
        for whose, truth in (("the writer", labels.writer), ("the second coach", labels.second),
                             ("the two coaches' mean", mean)):
            low, high = interval(meter.tolist(), truth)
            lines.append(f" the meter as at its blind run, against {whose}: Spearman "
                         f"{spearman(meter.tolist(), truth):.2f} ({low:.2f} to {high:.2f})")
    return "\n".join(lines)


def _counts(labels: Sequence[int]) -> str:
    return " / ".join(str(labels.count(value)) for value in range(1, 6))


def _meter_at_blind_run(part: str, calls: Calls, count: int) -> np.ndarray:
    """The meter's reading of the part's calls (in the order of their ids), fitted on the English parts written before
    it, as at its blind run."""
    directory = ENGLISH_PARTS[part][0]
    before = {corpus.name for corpus in ENGLISH_CORPORA[:ENGLISH_CORPORA.index(directory)]}
    train = [i for i, name in enumerate(calls.parts) if name in before]
    test = [i for i, name in enumerate(calls.parts) if name == directory.name]
    if len(test) != count:
        raise ValueError(f"the words' corpus holds {len(test)} calls of {part}, the part {count}")
    meter, _ = meter_on(ADOPTED, calls, train, test)
    return meter


def second_labels(part: str, calls: Sequence[LabelledCall]) -> dict[str, dict[int, frozenset[str]]]:
    """The second labeller's flaws of each persona turn of ``calls``, by sequence, as a detector gives them."""
    stored: dict[str, list[list[str]]] = yaml.safe_load((SECOND_LABELLERS / f"{part}.yaml").read_text())
    if set(stored) != {call.id for call in calls}:
        raise ValueError(f"the second labelling of {part} must label exactly the part's calls")
    labels = {}
    for call in calls:
        turns = stored[call.id]
        if len(turns) != len(call.labels) or any(set(flaws) - set(FLAWS) for flaws in turns):
            raise ValueError(f"{call.id}: one list of flaws named in {FLAWS} per persona turn")
        labels[call.id] = {sequence: frozenset(flaws) for sequence, flaws in zip(call.labels, turns, strict=True)}
    return labels


def against(calls: Sequence[LabelledCall], found: Mapping[str, dict[int, frozenset[str]]]) -> dict[str, Figures]:
    """Per flaw, the turns ``found`` flags (by call id) counted against the calls' labels."""
    return audit_eval.counted(calls, lambda call: found[call.id])


def flaw_kappa(calls: Sequence[LabelledCall], found: Mapping[str, dict[int, frozenset[str]]], flaw: str) -> float:
    writer = [flaw in labels for call in calls for labels in call.labels.values()]
    second = [flaw in found[call.id][sequence] for call in calls for sequence in call.labels]
    return float(cohen_kappa_score(writer, second))


def audit_report(engine: bool) -> str:
    every_call = audit_eval.load()
    return "\n\n".join(_audit_part(part, every_call, engine) for part in AUDIT_PARTS)


def _audit_part(part: str, every_call: Sequence[LabelledCall], engine: bool) -> str:
    calls = [call for call in every_call if call.split == part]
    second = second_labels(part, calls)
    turns = sum(len(call.labels) for call in calls)
    lines = [f"{part}: {len(calls)} calls, {turns} persona turns; the second labeller against the writer", "",
             "| flaw | labelled | flagged | correct | precision | recall | kappa |", "|---|--:|--:|--:|--:|--:|--:|"]
    lines += [f"{audit_eval.row(flaw, figures)} {flaw_kappa(calls, second, flaw):.2f} |"
              for flaw, figures in against(calls, second).items()]
    if engine:
        from devtools.fit_persona_audit import with_classifiers  # scikit-learn fits: loaded for --engine only

        development = [call for call in every_call if call.split in audit_eval.DEVELOPMENT_SPLITS]
        detect = with_classifiers()([call for call in development if call.split != part])
        auditor = {call.id: detect(call) for call in calls}
        second_as_truth = [LabelledCall(call.id, call.split, call.source, call.profile, call.turns, second[call.id])
                           for call in calls]
        for whose, truth in (("the writer's labels", calls), ("the second labeller's", second_as_truth)):
            lines += ["", f"the auditor fitted without {part}, against {whose}", "",
                      *audit_eval.figures_table(against(truth, auditor))]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", nargs="?", choices=("sales", "audit"), help="one of the two; both unless given")
    parser.add_argument("--engine", action="store_true",
                        help="also the engine fitted without the part, against each labeller (fits: minutes)")
    arguments = parser.parse_args()
    reports = {"sales": sales_report, "audit": audit_report}
    chosen = [arguments.which] if arguments.which else list(reports)
    print("\n\n".join(reports[name](arguments.engine) for name in chosen))


if __name__ == "__main__":
    main()
