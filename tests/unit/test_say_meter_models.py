"""The Say Meter's candidate models (devtools/say_meter_models.py) on small synthetic tables: a measure that follows
the label in every part ranks each part left out as the label does, a model of noise ranks it no better than chance,
and a candidate read against itself gains nothing."""

from __future__ import annotations

import random

import numpy as np
import pytest

from devtools.say_meter_corpus import spearman
from devtools.say_meter_models import MODELS, gain_interval, held_out

LABELS = [1 + index % 5 for index in range(60)]
PARTS = [index // 20 for index in range(60)]


@pytest.mark.parametrize("model", sorted(MODELS))
def test_a_measure_that_follows_the_label_ranks_each_part_left_out_as_the_label_does(model):
    rng = random.Random(3)
    rows = np.array([[rng.uniform(0, 1), label + rng.uniform(0, 0.1)] for label in LABELS])

    scores, _ = held_out(MODELS[model], rows, np.array(LABELS), PARTS, PARTS)

    for part in set(PARTS):
        members = [i for i, other in enumerate(PARTS) if other == part]
        assert spearman([scores[i] for i in members], [LABELS[i] for i in members]) > 0.95


def test_a_model_of_noise_ranks_the_parts_left_out_no_better_than_chance():
    rng = random.Random(5)
    labels = [rng.randint(1, 5) for _ in LABELS]
    rows = np.array([[rng.uniform(0, 1) for _ in range(4)] for _ in labels])

    scores, _ = held_out(MODELS["ridge"], rows, np.array(labels), PARTS, PARTS)

    assert spearman(scores, labels) < 0.3


def test_a_candidate_read_against_itself_gains_nothing():
    scores = [float(label) for label in LABELS]
    assert gain_interval(scores, scores, LABELS) == (0.0, 0.0)
