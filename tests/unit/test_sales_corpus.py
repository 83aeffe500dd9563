"""The labelled sales call corpora (tests/data/sales_corpus in English, tests/data/sales_corpus_es in Spanish, and the
English held-out parts tests/data/sales_corpus_heldout2 to tests/data/sales_corpus_heldout20) are well formed: every
call names its source, carries the rubric's five dimension scores and a label that follows from them (a coach may move
it one step, saying why), and turns of the seller (user) and the buyer (assistant)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from devtools import say_meter_corpus, say_meter_split
from tests.unit import labelled_conversations

DATA = Path(__file__).resolve().parents[1] / "data"
CORPUS = DATA / "sales_corpus" / "calls"
SPANISH_CORPUS = DATA / "sales_corpus_es" / "calls"
# The English parts written blind after the split, numbered from 2 in the order written (which of them a fit may read
# is the business of the last test here).
HELD_OUT_PARTS = {number: DATA / f"sales_corpus_heldout{number}" / "calls" for number in range(2, 21)}
PARTS = (CORPUS, SPANISH_CORPUS, *HELD_OUT_PARTS.values())
KINDS = {"cold", "discovery", "demo", "negotiation", "save-desk", "closing", "objection-role-play"}
WEIGHTS = {"discovery": 0.30, "listening": 0.20, "objections": 0.20, "value": 0.15, "next_step": 0.15}


def assert_sourced_labelled_and_retold_turn_by_turn(path: Path, language: str) -> None:
    labelled_conversations.assert_sourced_labelled_and_retold(path, weights=WEIGHTS, kinds=KINDS, language=language)


def labels_of(corpus: Path) -> set[int]:
    return set(labelled_conversations.labels_of(corpus))


@pytest.mark.parametrize(("path", "language"), [
    (path, "es" if corpus == SPANISH_CORPUS else "en") for corpus in PARTS for path in sorted(corpus.glob("*.json"))
], ids=lambda value: f"{value.parent.parent.name}/{value.stem}" if isinstance(value, Path) else value)
def test_a_call_of_every_part_is_sourced_labelled_and_retold_turn_by_turn(path, language):
    assert_sourced_labelled_and_retold_turn_by_turn(path, language)


# Each held-out part: its least calls, and its least calls of labels 1 to 5.
@pytest.mark.parametrize(("part", "least_calls", "least_per_label"), [
    (HELD_OUT_PARTS[2], 36, (2, 2, 2, 2, 2)),
    (HELD_OUT_PARTS[3], 40, (6, 6, 6, 6, 5)),
    (HELD_OUT_PARTS[4], 40, (7, 7, 7, 7, 0)),  # no label 5 found that no other part retells
    (HELD_OUT_PARTS[5], 40, (6, 6, 6, 6, 1)),  # one label 5 found, not six (its README says why)
    (HELD_OUT_PARTS[6], 40, (6, 6, 6, 6, 1)),  # one label 5 found again (its README says why)
    (HELD_OUT_PARTS[7], 40, (6, 6, 6, 6, 1)),  # one label 5 found, not six (its README says why)
    (HELD_OUT_PARTS[8], 36, (6, 6, 6, 6, 2)),  # two label 5 found, not six (its README says why)
    (HELD_OUT_PARTS[9], 36, (6, 6, 6, 6, 3)),  # three label 5 found, not six (its README says why)
    (HELD_OUT_PARTS[10], 36, (6, 6, 6, 6, 1)),  # one label 5 found, not six (its README says why)
    (HELD_OUT_PARTS[11], 36, (6, 6, 6, 6, 1)),  # one label 5 found, not six (its README says why)
    (HELD_OUT_PARTS[12], 36, (6, 6, 6, 6, 0)),  # no label 5 found (its README says why)
    (HELD_OUT_PARTS[13], 36, (6, 6, 6, 6, 1)),  # one label 5 found, not six (its README says why)
    (HELD_OUT_PARTS[14], 36, (6, 6, 6, 6, 0)),  # no label 5 found (its README says why)
    (HELD_OUT_PARTS[15], 36, (6, 6, 6, 6, 0)),  # no label 5 found (its README says why)
    (HELD_OUT_PARTS[16], 55, (25, 12, 9, 8, 1)),  # one label 5 found, not six (its README says why)
    (HELD_OUT_PARTS[17], 50, (24, 13, 7, 6, 0)),  # no label 5 found (its README says why)
    (HELD_OUT_PARTS[18], 50, (25, 8, 11, 6, 0)),  # no label 5 found (its README says why)
    (HELD_OUT_PARTS[19], 53, (23, 13, 11, 6, 0)),  # no label 5 found (its README says why)
    (HELD_OUT_PARTS[20], 58, (27, 13, 12, 6, 0)),  # no label 5 found (its README says why)
], ids=lambda value: value.parent.name if isinstance(value, Path) else None)
def test_a_held_out_part_has_its_calls_of_every_label(part: Path, least_calls: int,
                                                      least_per_label: tuple[int, ...]) -> None:
    counts = Counter(labelled_conversations.labels_of(part))
    assert sum(counts.values()) >= least_calls
    assert [label for label, least in enumerate(least_per_label, 1) if counts[label] < least] == []


def test_call_ids_are_unique_across_the_parts():
    ids = Counter(path.stem for part in PARTS for path in part.glob("*.json"))
    assert [call_id for call_id, seen in ids.items() if seen > 1] == []


def retold_sources(part: Path) -> list[tuple[str, frozenset[str]]]:
    """Each call's source as its address (a URL or owner/repo@commit:path) and the sections it quotes by name, so two
    calls retold from different entries of one published file count as different sources."""
    sources = []
    for path in sorted(part.glob("*.json")):
        source = json.loads(path.read_text())["source"]
        sources.append((source.split()[0].rstrip(",;"), frozenset(re.findall(r"'([^']+)'", source))))
    return sources


@pytest.mark.parametrize("part", HELD_OUT_PARTS.values(), ids=lambda part: part.parent.name)
def test_a_held_out_part_retells_each_source_once_and_none_another_part_retells(part: Path) -> None:
    retold = retold_sources(part)
    assert len(set(retold)) == len(retold)
    others = [source for other in PARTS if other != part for source in retold_sources(other)]
    assert set(retold) & set(others) == set()


def test_the_corpus_spans_every_label():
    assert labels_of(CORPUS) == {1, 2, 3, 4, 5}


def test_the_spanish_corpus_has_a_dozen_calls_over_every_label():
    assert len(list(SPANISH_CORPUS.glob("*.json"))) >= 12
    assert labels_of(SPANISH_CORPUS) == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("corpus", say_meter_split.CORPORA.values(), ids=say_meter_split.CORPORA.keys())
def test_the_held_out_part_follows_from_ids_and_labels_alone(corpus):
    labels = say_meter_split.corpus_labels(corpus)
    held_out = say_meter_split.held_out_ids(corpus)
    assert held_out == say_meter_split.draw(labels)
    for label in set(labels.values()):
        ids = [call_id for call_id, lab in labels.items() if lab == label]
        assert len([call_id for call_id in ids if call_id in held_out]) == -(-len(ids) // say_meter_split.EVERY)


def test_the_corpus_tools_read_each_english_part_alone_and_together_as_development_data():
    alone = {number: say_meter_corpus.load_calls(say_meter_corpus.held_out(number))
             for number in range(2, say_meter_corpus.LATEST_NAMED_PART + 1)}
    for number, calls in alone.items():
        written = HELD_OUT_PARTS[number].glob("*.json")
        assert sorted(call["id"] for call in calls) == sorted(path.stem for path in written)
    # In the order written: each first_..._english part is the directories before the next one, all_english every
    # directory read.
    in_order = [say_meter_corpus.load_calls(say_meter_corpus.ALL), *alone.values()]
    together = {say_meter_corpus.first_english(count): in_order[:count]
                for count in range(2, say_meter_corpus.LATEST_READ_PART)}
    together[say_meter_corpus.ALL_ENGLISH] = in_order[:say_meter_corpus.LATEST_READ_PART]
    for part, directories in together.items():
        expected = [call["id"] for calls in directories for call in calls]
        assert sorted(call["id"] for call in say_meter_corpus.load_calls(part)) == sorted(expected)
    assert set(say_meter_corpus.ENGLISH_PARTS) == set(together) | set(map(say_meter_corpus.held_out, alone))
    # the names the docs and the other tools use
    assert {"held_out2", "first_two_english", "first_sixteen_english", "first_seventeen_english", "held_out18",
            "all_english"} <= set(say_meter_corpus.PARTS)
    english_only = set(say_meter_corpus.ENGLISH_PARTS)
    assert english_only <= set(say_meter_corpus.PARTS)
    for part in english_only:
        with pytest.raises(SystemExit, match="English only"):
            say_meter_corpus.load_calls(part, "es")


# Named here, not taken from the tool: a part written blind later is read by a fit only once this number says so.
LATEST_SCORED_PART = 19


def test_every_part_a_fit_may_read_draws_only_on_directories_already_scored_blind():
    # The fifth part was counted here after its one blind run (0.53, docs/say_meter.md), the sixth after its own
    # (0.49), the seventh after its own (0.57), the eighth after its own (0.74), the ninth after its own (0.61), the
    # tenth after its own (0.64), the eleventh after its own (0.53), the twelfth after its own (0.58), the thirteenth
    # after its own (0.77), the fourteenth after its own (0.72), the fifteenth after its own (0.72), the sixteenth after
    # its own (0.62), the seventeenth after its own (0.60), the eighteenth after its own (0.59); the nineteenth is
    # counted after its own (0.56), and is in no fitted set yet.
    read = {CORPUS.parent.name, SPANISH_CORPUS.parent.name,
            *(HELD_OUT_PARTS[number].parent.name for number in range(2, LATEST_SCORED_PART + 1))}
    drawn = {call["directory"] for part in say_meter_corpus.PARTS
             for language in (("en",) if part in say_meter_corpus.ENGLISH_PARTS else ("en", "es"))
             for call in say_meter_corpus.load_calls(part, language)}
    assert drawn <= read
