"""The split of a labelled sales corpus (tests/data/sales_corpus in English, tests/data/sales_corpus_es in Spanish) into
a development part, where the Say Meter's rules are designed and its weights fitted and cross-validated, and a held-out
part, read only to measure the result.

The split is drawn from each call's id and label alone, before any call is read: within each label, the calls are
ordered by the SHA-256 of their id, and every third one (positions 0, 3, 6, ...) is held out, so each label keeps
about a third of its calls apart. ``held_out.txt`` beside the calls records the result; this module rewrites it and
the unit tests check that it still follows from the rule.

    .venv/bin/python -m devtools.say_meter_split [--language en|es]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import defaultdict
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CORPORA = {"en": DATA / "sales_corpus", "es": DATA / "sales_corpus_es"}  # by the language of their calls
CORPUS = CORPORA["en"]
EVERY = 3


def draw(labels_by_id: dict[str, int]) -> set[str]:
    """The held-out ids: every EVERY-th call of each label in the order of the SHA-256 of its id."""
    by_label: dict[int, list[str]] = defaultdict(list)
    for call_id, label in labels_by_id.items():
        by_label[label].append(call_id)
    held_out: set[str] = set()
    for ids in by_label.values():
        ordered = sorted(ids, key=lambda call_id: hashlib.sha256(call_id.encode()).hexdigest())
        held_out.update(ordered[::EVERY])
    return held_out


def corpus_labels(corpus: Path = CORPUS) -> dict[str, int]:
    """Each call's label, read without its turns."""
    return {path.stem: json.loads(path.read_text())["label"] for path in sorted((corpus / "calls").glob("*.json"))}


def held_out_ids(corpus: Path = CORPUS) -> set[str]:
    lines = (corpus / "held_out.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--language", choices=sorted(CORPORA), default="en", help="the corpus to split")
    corpus = CORPORA[parser.parse_args().language]
    held_out = sorted(draw(corpus_labels(corpus)))
    header = ("# Held-out calls of the sales corpus: never read while the Say Meter's rules are designed or fitted.\n"
              "# Drawn by devtools/say_meter_split.py from ids and labels only: within each label, calls ordered by\n"
              "# the SHA-256 of their id, every third one (positions 0, 3, 6, ...) held out.\n")
    (corpus / "held_out.txt").write_text(header + "".join(f"{call_id}\n" for call_id in held_out))
    print(f"{len(held_out)} held-out calls written to {corpus / 'held_out.txt'}")


if __name__ == "__main__":
    main()
