"""How the local engine's Say Meter ranks a labelled sales call corpus (tests/data/sales_corpus, or its Spanish
counterpart tests/data/sales_corpus_es with ``--language es``) against its coach labels: Spearman and Kendall rank
correlations with a bootstrap 95% interval, and the mean score by label.

Each call is scored as the service scores it (``measure`` with the phrases of the call's language, then ``score``),
on the whole call (the final reading) and on its final window (what a model engine is shown at the call's end); an
English call also by the sales rules alone, without the words' model the factors are mixed with. Nothing here is
fitted.

The corpus is split (``devtools.say_meter_split``): rules were designed and weights fitted on the development part,
the default here, and the held-out part measured the result. That part has been read since, so the whole English
corpus (``--part all``) is development data. Later English parts were each written blind by someone who had not read
the others' calls, scored once, and read since: tests/data/sales_corpus_heldout2 (``--part held_out2``) onwards, up to
the part numbered ``LATEST_READ_PART``. ``--part all_english`` is those English directories together with the
split's, the development data the sales meter is fitted on; ``--part first_two_english``, ``first_three_english`` and
so on keep the sets earlier rounds were fitted on, so their figures can be retraced. A part numbered after
``LATEST_READ_PART``, up to ``LATEST_NAMED_PART``, was written after the meter was last fitted and is in no fitted set;
a directory numbered after ``LATEST_NAMED_PART`` is not read at all.

    .venv/bin/python -m devtools.say_meter_corpus [--part PART] [--language en|es]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis_svc.domain.conversation import measure
from analysis_svc.domain.phrasebook import phrases_for
from analysis_svc.domain.say_meter import RUBRICS, factor_scores, score, weigh
from calls.job_tracks import Blueprint
from calls.turns import DEFAULT_WINDOW, Role, Turn
from devtools.say_meter_split import CORPORA, DATA, held_out_ids

RESAMPLES = 2000
DEVELOPMENT, HELD_OUT, ALL = "development", "held_out", "all"
# The English parts apart from the split are numbered from 2 in the order written (tests/data/sales_corpus_heldout2
# onwards; the split's corpus is the first). Naming a part written blind raises LATEST_NAMED_PART; folding it into the
# development data after its one blind run raises LATEST_READ_PART.
LATEST_NAMED_PART = 19
LATEST_READ_PART = 18
ALL_ENGLISH = "all_english"
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def number_word(number: int) -> str:
    """0 to 99 in words, joined by an underscore as a part's name joins them: 17 is seventeen, 21 twenty_one."""
    if number < len(NUMBER_WORDS):
        return NUMBER_WORDS[number]
    tens, units = divmod(number, 10)
    return TENS[tens] + (f"_{NUMBER_WORDS[units]}" if units else "")


def held_out(number: int) -> str:
    """The part that is the English directory numbered ``number`` alone."""
    return f"held_out{number}"


def first_english(count: int) -> str:
    """The part that is the first ``count`` English directories together."""
    return f"first_{number_word(count)}_english"


def held_out_corpus(number: int) -> Path:
    return DATA / f"sales_corpus_heldout{number}"


# Every English directory that has been scored blind once and read since, in the order they were written: the only
# ones a fitted set may draw on.
ENGLISH_CORPORA = (CORPORA["en"], *(held_out_corpus(number) for number in range(2, LATEST_READ_PART + 1)))


def _english_parts() -> dict[str, tuple[Path, ...]]:
    """Each named English directory alone, and after it the directories up to it together while they have been read
    (the last of them being all_english), in the order written."""
    parts: dict[str, tuple[Path, ...]] = {}
    for number in range(2, LATEST_NAMED_PART + 1):
        parts[held_out(number)] = (held_out_corpus(number),)
        if number <= LATEST_READ_PART:
            parts[ALL_ENGLISH if number == LATEST_READ_PART else first_english(number)] = ENGLISH_CORPORA[:number]
    return parts


# The English-only parts, and the directories each reads.
ENGLISH_PARTS = _english_parts()
PARTS = (DEVELOPMENT, HELD_OUT, ALL, *ENGLISH_PARTS)


def ranks(values: Sequence[float]) -> list[float]:
    """1 = the lowest value; ties share their mean rank."""
    order = sorted(range(len(values)), key=lambda index: values[index])
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            result[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return result


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    covariance = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    spread = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    return covariance / spread if spread else 0.0


def kendall(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Kendall's tau-b."""
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            dx, dy = xs[i] - xs[j], ys[i] - ys[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = ((concordant + discordant + ties_x) * (concordant + discordant + ties_y)) ** 0.5
    return (concordant - discordant) / denominator if denominator else 0.0


def interval(xs: Sequence[float], ys: Sequence[float], seed: int = 7) -> tuple[float, float]:
    """The bootstrap 95% interval of Spearman's rho, resampling calls."""
    rng = random.Random(seed)
    values = []
    for _ in range(RESAMPLES):
        picks = [rng.randrange(len(xs)) for _ in xs]
        values.append(spearman([xs[i] for i in picks], [ys[i] for i in picks]))
    values.sort()
    return values[int(0.025 * RESAMPLES)], values[int(0.975 * RESAMPLES) - 1]


def load_calls(part: str = DEVELOPMENT, language: str = "en") -> list[dict[str, Any]]:
    """The calls of one part of the corpus in ``language`` (``say_meter_split``): the development part unless asked
    otherwise."""
    if part in ENGLISH_PARTS:
        if language != "en":
            raise SystemExit(f"the part {part} is English only")
        return [call for corpus in ENGLISH_PARTS[part] for call in calls_in(corpus)]
    corpus = CORPORA[language]
    held_out = held_out_ids(corpus)
    return [call for call in calls_in(corpus) if part == ALL or (call["id"] in held_out) == (part == HELD_OUT)]


def calls_in(corpus: Path, folder: str = "calls") -> list[dict[str, Any]]:
    """Every call of a corpus directory (in its ``folder``), in the order of their ids, each marked with the directory
    it came from."""
    return [{**json.loads(path.read_text()), "directory": corpus.name}
            for path in sorted((corpus / folder).glob("*.json"))]


def _part_parser(description: str) -> argparse.ArgumentParser:
    unfitted = ", ".join(held_out(number) for number in range(LATEST_READ_PART + 1, LATEST_NAMED_PART + 1))
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--part", choices=PARTS, default=DEVELOPMENT,
                        help=f"the split's parts, one later English part, the first two to "
                             f"{number_word(LATEST_READ_PART - 1)} English directories, or all "
                             f"{number_word(LATEST_READ_PART)} (all_english); "
                             + (f"{unfitted} in no fitted set" if unfitted else "every part has been read"))
    return parser


def part_argument(description: str) -> str:
    """The part of the corpus named on the command line (``--part``)."""
    return str(_part_parser(description).parse_args().part)


def part_and_language(description: str) -> tuple[str, str]:
    """The part of the corpus and its language named on the command line (``--part``, ``--language``)."""
    parser = _part_parser(description)
    parser.add_argument("--language", choices=sorted(CORPORA), default="en", help="the corpus's language")
    arguments = parser.parse_args()
    return str(arguments.part), str(arguments.language)


def turns_of(call: dict[str, Any]) -> list[Turn]:
    return [Turn(n, Role(turn["role"]), turn["text"]) for n, turn in enumerate(call["turns"], start=1)]


def means_by_label(scores: Sequence[float], labels: Sequence[int]) -> str:
    by_label = {label: [s for s, lab in zip(scores, labels, strict=True) if lab == label]
                for label in sorted(set(labels))}
    return ", ".join(f"{label}: {statistics.fmean(values):.0f} (n={len(values)})" for label, values in by_label.items())


def length_and_origins(scores: Sequence[float], calls: Sequence[dict[str, Any]]) -> str:
    """How far the scores follow the call's length rather than its label, and how they rank within each origin and,
    when the calls come from several directories, within each directory."""
    labels, lengths = [call["label"] for call in calls], [len(call["turns"]) for call in calls]
    lines = [f"  Spearman of the score with the call's length: {spearman(scores, lengths):.2f} "
             f"(of the labels: {spearman(labels, lengths):.2f})"]
    groupings = ("origin", "directory") if len({call["directory"] for call in calls}) > 1 else ("origin",)
    for key in groupings:
        for group in sorted({call[key] for call in calls}):
            members = [i for i, call in enumerate(calls) if call[key] == group]
            group_scores, group_labels = [scores[i] for i in members], [labels[i] for i in members]
            low, high = interval(group_scores, group_labels)
            lines.append(f"  {group}: Spearman {spearman(group_scores, group_labels):.2f} "
                         f"(95% {low:.2f} to {high:.2f}), mean score by label "
                         + means_by_label(group_scores, group_labels))
    return "\n".join(lines)


def main() -> None:
    part, language = part_and_language(__doc__ or "")
    calls = load_calls(part, language)
    phrases = phrases_for(language)
    print(f"{part} part of the {language} corpus")
    labels = [call["label"] for call in calls]
    readings = [("whole call", None, False), (f"final window ({DEFAULT_WINDOW} messages)", DEFAULT_WINDOW, False)]
    if language == "en":  # the words' model reads English only: elsewhere the rules are the meter
        readings.append(("whole call, the sales rules alone (without the words' model)", None, True))
    for reading, window, rules_alone in readings:
        scores = []
        for call in calls:
            turns = turns_of(call)
            metrics = measure(turns[-window:] if window else turns, phrases=phrases)
            scores.append(weigh(factor_scores(metrics), RUBRICS[Blueprint.SALES]) if rules_alone
                          else score(metrics, Blueprint.SALES).score)
        low, high = interval(scores, labels)
        print(f"{reading}: {len(calls)} calls, Spearman {spearman(scores, labels):.2f} (95% {low:.2f} to {high:.2f}), "
              f"Kendall {kendall(scores, labels):.2f}")
        print("  mean score by label: " + means_by_label(scores, labels))
        print(length_and_origins(scores, calls))


if __name__ == "__main__":
    main()
