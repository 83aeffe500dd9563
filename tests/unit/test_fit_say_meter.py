"""The Say Meter weight fit (devtools/fit_say_meter.py) on small synthetic tables: a factor that orders the calls as
their labels do takes all the weight and ranks held-out calls perfectly; factors of noise rank held-out calls no
better than chance."""

from __future__ import annotations

import random

from devtools.fit_say_meter import fit_all, held_out_scores, simplex
from devtools.say_meter_corpus import spearman

LABELS = [1 + index % 5 for index in range(30)]


def test_the_grid_holds_every_weighting_summing_to_100():
    grid = simplex(5, 10)

    assert len(grid) == len(set(grid)) == 1001  # 14 choose 4
    assert all(sum(weights) == 100 and min(weights) >= 0 for weights in grid)


def test_a_factor_that_follows_the_label_takes_the_weight_and_ranks_held_out_calls_perfectly():
    rng = random.Random(3)
    rows = [[rng.uniform(0, 100), 20 * label, rng.uniform(0, 100)] for label in LABELS]

    held_out, fitted = held_out_scores(rows, LABELS)

    assert spearman(held_out, LABELS) == 1.0
    assert set(fitted) == {(0, 100, 0)}
    assert fit_all(rows, LABELS) == (0, 100, 0)


def test_factors_of_noise_rank_held_out_calls_no_better_than_chance():
    rng = random.Random(5)
    labels = [rng.randint(1, 5) for _ in range(40)]
    rows = [[rng.uniform(0, 100) for _ in range(3)] for _ in labels]

    held_out, _ = held_out_scores(rows, labels)

    assert spearman(held_out, labels) < 0.3


def test_leaving_a_part_out_fits_the_weights_on_the_other_parts_only():
    # Column 1 follows the labels in parts a and b, column 0 in part c: part c, left out, is scored by what a and b
    # taught, however well its own calls would have fitted another weighting.
    rng = random.Random(7)
    parts = [part for part in "abc" for _ in LABELS]
    rows = [[20 * label if part == "c" else rng.uniform(0, 100), rng.uniform(0, 100) if part == "c" else 20 * label,
             rng.uniform(0, 100)] for part, label in zip(parts, LABELS * 3, strict=True)]

    held_out, fitted = held_out_scores(rows, LABELS * 3, folds=parts)

    assert {weights for weights, part in zip(fitted, parts, strict=True) if part == "c"} == {(0, 100, 0)}
    assert spearman(held_out[:len(LABELS)], LABELS) > spearman(held_out[-len(LABELS):], LABELS)
