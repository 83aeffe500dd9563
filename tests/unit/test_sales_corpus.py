"""The labelled sales call corpora (tests/data/sales_corpus in English, tests/data/sales_corpus_es in Spanish, and the
English held-out parts tests/data/sales_corpus_heldout2 to tests/data/sales_corpus_heldout19) are well formed: every
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
HELD_OUT_PART = DATA / "sales_corpus_heldout2" / "calls"  # scored once blind, development data since
THIRD_HELD_OUT_PART = DATA / "sales_corpus_heldout3" / "calls"  # scored once blind, development data since
FOURTH_HELD_OUT_PART = DATA / "sales_corpus_heldout4" / "calls"  # scored once blind, development data since
FIFTH_HELD_OUT_PART = DATA / "sales_corpus_heldout5" / "calls"  # scored once blind, development data since
SIXTH_HELD_OUT_PART = DATA / "sales_corpus_heldout6" / "calls"  # scored once blind, development data since
SEVENTH_HELD_OUT_PART = DATA / "sales_corpus_heldout7" / "calls"  # scored once blind, development data since
EIGHTH_HELD_OUT_PART = DATA / "sales_corpus_heldout8" / "calls"  # scored once blind, development data since
NINTH_HELD_OUT_PART = DATA / "sales_corpus_heldout9" / "calls"  # scored once blind, development data since
TENTH_HELD_OUT_PART = DATA / "sales_corpus_heldout10" / "calls"  # scored once blind, development data since
ELEVENTH_HELD_OUT_PART = DATA / "sales_corpus_heldout11" / "calls"  # scored once blind, development data since
TWELFTH_HELD_OUT_PART = DATA / "sales_corpus_heldout12" / "calls"  # scored once blind, development data since
THIRTEENTH_HELD_OUT_PART = DATA / "sales_corpus_heldout13" / "calls"  # scored once blind, development data since
FOURTEENTH_HELD_OUT_PART = DATA / "sales_corpus_heldout14" / "calls"  # scored once blind, development data since
FIFTEENTH_HELD_OUT_PART = DATA / "sales_corpus_heldout15" / "calls"  # scored once blind, development data since
SIXTEENTH_HELD_OUT_PART = DATA / "sales_corpus_heldout16" / "calls"  # scored once blind, development data since
SEVENTEENTH_HELD_OUT_PART = DATA / "sales_corpus_heldout17" / "calls"  # scored once blind, development data since
EIGHTEENTH_HELD_OUT_PART = DATA / "sales_corpus_heldout18" / "calls"  # scored once blind, development data since
NINETEENTH_HELD_OUT_PART = DATA / "sales_corpus_heldout19" / "calls"  # scored once blind, in no fitted set yet
PARTS = (CORPUS, SPANISH_CORPUS, HELD_OUT_PART, THIRD_HELD_OUT_PART, FOURTH_HELD_OUT_PART, FIFTH_HELD_OUT_PART,
         SIXTH_HELD_OUT_PART, SEVENTH_HELD_OUT_PART, EIGHTH_HELD_OUT_PART, NINTH_HELD_OUT_PART, TENTH_HELD_OUT_PART,
         ELEVENTH_HELD_OUT_PART, TWELFTH_HELD_OUT_PART, THIRTEENTH_HELD_OUT_PART, FOURTEENTH_HELD_OUT_PART,
         FIFTEENTH_HELD_OUT_PART, SIXTEENTH_HELD_OUT_PART, SEVENTEENTH_HELD_OUT_PART, EIGHTEENTH_HELD_OUT_PART,
         NINETEENTH_HELD_OUT_PART)
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
    (HELD_OUT_PART, 36, (2, 2, 2, 2, 2)),
    (THIRD_HELD_OUT_PART, 40, (6, 6, 6, 6, 5)),
    (FOURTH_HELD_OUT_PART, 40, (7, 7, 7, 7, 0)),  # no label 5 found that no other part retells
    (FIFTH_HELD_OUT_PART, 40, (6, 6, 6, 6, 1)),  # one label 5 found, not six (its README says why)
    (SIXTH_HELD_OUT_PART, 40, (6, 6, 6, 6, 1)),  # one label 5 found again (its README says why)
    (SEVENTH_HELD_OUT_PART, 40, (6, 6, 6, 6, 1)),  # one label 5 found, not six (its README says why)
    (EIGHTH_HELD_OUT_PART, 36, (6, 6, 6, 6, 2)),  # two label 5 found, not six (its README says why)
    (NINTH_HELD_OUT_PART, 36, (6, 6, 6, 6, 3)),  # three label 5 found, not six (its README says why)
    (TENTH_HELD_OUT_PART, 36, (6, 6, 6, 6, 1)),  # one label 5 found, not six (its README says why)
    (ELEVENTH_HELD_OUT_PART, 36, (6, 6, 6, 6, 1)),  # one label 5 found, not six (its README says why)
    (TWELFTH_HELD_OUT_PART, 36, (6, 6, 6, 6, 0)),  # no label 5 found (its README says why)
    (THIRTEENTH_HELD_OUT_PART, 36, (6, 6, 6, 6, 1)),  # one label 5 found, not six (its README says why)
    (FOURTEENTH_HELD_OUT_PART, 36, (6, 6, 6, 6, 0)),  # no label 5 found (its README says why)
    (FIFTEENTH_HELD_OUT_PART, 36, (6, 6, 6, 6, 0)),  # no label 5 found (its README says why)
    (SIXTEENTH_HELD_OUT_PART, 55, (25, 12, 9, 8, 1)),  # one label 5 found, not six (its README says why)
    (SEVENTEENTH_HELD_OUT_PART, 50, (24, 13, 7, 6, 0)),  # no label 5 found (its README says why)
    (EIGHTEENTH_HELD_OUT_PART, 50, (25, 8, 11, 6, 0)),  # no label 5 found (its README says why)
    (NINETEENTH_HELD_OUT_PART, 53, (23, 13, 11, 6, 0)),  # no label 5 found (its README says why)
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


@pytest.mark.parametrize("part", [HELD_OUT_PART, THIRD_HELD_OUT_PART, FOURTH_HELD_OUT_PART, FIFTH_HELD_OUT_PART,
                                  SIXTH_HELD_OUT_PART, SEVENTH_HELD_OUT_PART, EIGHTH_HELD_OUT_PART,
                                  NINTH_HELD_OUT_PART, TENTH_HELD_OUT_PART, ELEVENTH_HELD_OUT_PART,
                                  TWELFTH_HELD_OUT_PART, THIRTEENTH_HELD_OUT_PART, FOURTEENTH_HELD_OUT_PART,
                                  FIFTEENTH_HELD_OUT_PART, SIXTEENTH_HELD_OUT_PART, SEVENTEENTH_HELD_OUT_PART,
                                  EIGHTEENTH_HELD_OUT_PART, NINETEENTH_HELD_OUT_PART],
                         ids=lambda part: part.parent.name)
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
    first = say_meter_corpus.load_calls(say_meter_corpus.ALL)
    later = {part: say_meter_corpus.load_calls(name) for part, name in (
        (HELD_OUT_PART, say_meter_corpus.SECOND_HELD_OUT), (THIRD_HELD_OUT_PART, say_meter_corpus.THIRD_HELD_OUT),
        (FOURTH_HELD_OUT_PART, say_meter_corpus.FOURTH_HELD_OUT),
        (FIFTH_HELD_OUT_PART, say_meter_corpus.FIFTH_HELD_OUT), (SIXTH_HELD_OUT_PART, say_meter_corpus.SIXTH_HELD_OUT),
        (SEVENTH_HELD_OUT_PART, say_meter_corpus.SEVENTH_HELD_OUT),
        (EIGHTH_HELD_OUT_PART, say_meter_corpus.EIGHTH_HELD_OUT),
        (NINTH_HELD_OUT_PART, say_meter_corpus.NINTH_HELD_OUT), (TENTH_HELD_OUT_PART, say_meter_corpus.TENTH_HELD_OUT),
        (ELEVENTH_HELD_OUT_PART, say_meter_corpus.ELEVENTH_HELD_OUT),
        (TWELFTH_HELD_OUT_PART, say_meter_corpus.TWELFTH_HELD_OUT),
        (THIRTEENTH_HELD_OUT_PART, say_meter_corpus.THIRTEENTH_HELD_OUT),
        (FOURTEENTH_HELD_OUT_PART, say_meter_corpus.FOURTEENTH_HELD_OUT),
        (FIFTEENTH_HELD_OUT_PART, say_meter_corpus.FIFTEENTH_HELD_OUT),
        (SIXTEENTH_HELD_OUT_PART, say_meter_corpus.SIXTEENTH_HELD_OUT),
        (SEVENTEENTH_HELD_OUT_PART, say_meter_corpus.SEVENTEENTH_HELD_OUT),
        (EIGHTEENTH_HELD_OUT_PART, say_meter_corpus.EIGHTEENTH_HELD_OUT),
        (NINETEENTH_HELD_OUT_PART, say_meter_corpus.NINETEENTH_HELD_OUT))}
    for directory, calls in later.items():
        assert sorted(call["id"] for call in calls) == sorted(path.stem for path in directory.glob("*.json"))
    (second, third, fourth, fifth, sixth, seventh, eighth, ninth, tenth, eleventh, twelfth, thirteenth,
     fourteenth, fifteenth, sixteenth, seventeenth, eighteenth, _) = later.values()
    for part, expected in ((say_meter_corpus.FIRST_TWO_ENGLISH, first + second),
                           (say_meter_corpus.FIRST_THREE_ENGLISH, first + second + third),
                           (say_meter_corpus.FIRST_FOUR_ENGLISH, first + second + third + fourth),
                           (say_meter_corpus.FIRST_FIVE_ENGLISH, first + second + third + fourth + fifth),
                           (say_meter_corpus.FIRST_SIX_ENGLISH, first + second + third + fourth + fifth + sixth),
                           (say_meter_corpus.FIRST_SEVEN_ENGLISH,
                            first + second + third + fourth + fifth + sixth + seventh),
                           (say_meter_corpus.FIRST_EIGHT_ENGLISH,
                            first + second + third + fourth + fifth + sixth + seventh + eighth),
                           (say_meter_corpus.FIRST_NINE_ENGLISH,
                            first + second + third + fourth + fifth + sixth + seventh + eighth + ninth),
                           (say_meter_corpus.FIRST_TEN_ENGLISH,
                            first + second + third + fourth + fifth + sixth + seventh + eighth + ninth + tenth),
                           (say_meter_corpus.FIRST_ELEVEN_ENGLISH,
                            first + second + third + fourth + fifth + sixth + seventh + eighth + ninth + tenth
                            + eleventh),
                           (say_meter_corpus.FIRST_TWELVE_ENGLISH,
                            first + second + third + fourth + fifth + sixth + seventh + eighth + ninth + tenth
                            + eleventh + twelfth),
                           (say_meter_corpus.FIRST_THIRTEEN_ENGLISH,
                            first + second + third + fourth + fifth + sixth + seventh + eighth + ninth + tenth
                            + eleventh + twelfth + thirteenth),
                           (say_meter_corpus.FIRST_FOURTEEN_ENGLISH,
                            first + second + third + fourth + fifth + sixth + seventh + eighth + ninth + tenth
                            + eleventh + twelfth + thirteenth + fourteenth),
                           (say_meter_corpus.FIRST_FIFTEEN_ENGLISH,
                            first + second + third + fourth + fifth + sixth + seventh + eighth + ninth + tenth
                            + eleventh + twelfth + thirteenth + fourteenth + fifteenth),
                           (say_meter_corpus.FIRST_SIXTEEN_ENGLISH,
                            first + second + third + fourth + fifth + sixth + seventh + eighth + ninth + tenth
                            + eleventh + twelfth + thirteenth + fourteenth + fifteenth + sixteenth),
                           (say_meter_corpus.FIRST_SEVENTEEN_ENGLISH,
                            first + second + third + fourth + fifth + sixth + seventh + eighth + ninth + tenth
                            + eleventh + twelfth + thirteenth + fourteenth + fifteenth + sixteenth + seventeenth),
                           (say_meter_corpus.ALL_ENGLISH,
                            first + second + third + fourth + fifth + sixth + seventh + eighth + ninth + tenth
                            + eleventh + twelfth + thirteenth + fourteenth + fifteenth + sixteenth + seventeenth
                            + eighteenth)):
        together = say_meter_corpus.load_calls(part)
        assert sorted(call["id"] for call in together) == sorted(call["id"] for call in expected)
    english_only = set(say_meter_corpus.ENGLISH_PARTS)
    assert english_only <= set(say_meter_corpus.PARTS)
    for part in english_only:
        with pytest.raises(SystemExit, match="English only"):
            say_meter_corpus.load_calls(part, "es")


def test_every_part_a_fit_may_read_draws_only_on_directories_already_scored_blind():
    # Named here, not taken from the tool: a part written blind later is read by a fit only once this list says so.
    # The fifth part joined it after its one blind run (0.53, docs/say_meter.md), the sixth after its own (0.49), the
    # seventh after its own (0.57), the eighth after its own (0.74), the ninth after its own (0.61), the tenth after its
    # own (0.64), the eleventh after its own (0.53), the twelfth after its own (0.58), the thirteenth after its own
    # (0.77), the fourteenth after its own (0.72), the fifteenth after its own (0.72), the sixteenth after its own
    # (0.62), the seventeenth after its own (0.60), the eighteenth after its own (0.59); the nineteenth is named after
    # its own (0.56).
    read = {CORPUS.parent.name, SPANISH_CORPUS.parent.name, HELD_OUT_PART.parent.name,
            THIRD_HELD_OUT_PART.parent.name, FOURTH_HELD_OUT_PART.parent.name, FIFTH_HELD_OUT_PART.parent.name,
            SIXTH_HELD_OUT_PART.parent.name, SEVENTH_HELD_OUT_PART.parent.name, EIGHTH_HELD_OUT_PART.parent.name,
            NINTH_HELD_OUT_PART.parent.name, TENTH_HELD_OUT_PART.parent.name, ELEVENTH_HELD_OUT_PART.parent.name,
            TWELFTH_HELD_OUT_PART.parent.name, THIRTEENTH_HELD_OUT_PART.parent.name,
            FOURTEENTH_HELD_OUT_PART.parent.name, FIFTEENTH_HELD_OUT_PART.parent.name,
            SIXTEENTH_HELD_OUT_PART.parent.name, SEVENTEENTH_HELD_OUT_PART.parent.name,
            EIGHTEENTH_HELD_OUT_PART.parent.name, NINETEENTH_HELD_OUT_PART.parent.name}
    drawn = {call["directory"] for part in say_meter_corpus.PARTS
             for language in (("en",) if part in say_meter_corpus.ENGLISH_PARTS else ("en", "es"))
             for call in say_meter_corpus.load_calls(part, language)}
    assert drawn <= read
