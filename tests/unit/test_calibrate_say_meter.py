"""The calibration of the sales meter's overall score (devtools/calibrate_say_meter.py) on small synthetic calls: the
map keeps the meter's order, puts each label's calls in the band the labels map to when the raw scores separate them,
and reads a words' model fitted on fewer calls, which knows fewer terms."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from analysis_svc.domain.conversation import measure
from analysis_svc.domain.sales_words import SALES_WORDS, SalesWords
from analysis_svc.domain.say_meter import band_for
from calls.turns import Role, Turn
from devtools.calibrate_say_meter import LABEL_BANDS, CoachScale, fit_scale, on_meter, raw_sales_overall, rounded

# A compressed meter, as the words' model leaves it: every label's calls between 25 and 65, in the labels' order.
RAW = np.array([25 + 8 * (label - 1) + offset for label in range(1, 6) for offset in (0.0, 1.5, 3.0)])
LABELS = np.array([label for label in range(1, 6) for _ in range(3)], dtype=float)


def test_the_bands_edges_fall_half_way_between_the_labels_they_separate():
    assert [on_meter(label) for label in (1, 2.5, 3.5, 5)] == [0.0, 50.0, 80.0, 100.0]
    assert [band_for(rounded(on_meter(label))) for label in range(1, 6)] == [LABEL_BANDS[n] for n in range(1, 6)]


def test_separated_labels_land_in_their_bands_and_the_order_is_kept():
    scale = fit_scale(RAW, LABELS)
    placed = [scale.place(raw) for raw in RAW]

    assert [band_for(rounded(score)) for score in placed] == [LABEL_BANDS[int(label)] for label in LABELS]
    assert all(earlier <= later for earlier, later in pairwise(placed))
    assert scale.knots[0] == (0.0, 0.0) and scale.knots[-1] == (100.0, 100.0)


def test_the_map_runs_straight_between_its_knots():
    scale = CoachScale(((0.0, 0.0), (40.0, 60.0), (100.0, 100.0)))

    assert [scale.place(raw) for raw in (0, 20, 40, 70, 100)] == [0.0, 30.0, 60.0, 80.0, 100.0]


def test_a_words_model_fitted_on_fewer_calls_reads_only_the_terms_it_knows():
    turns = [Turn(1, Role.USER, "what made you look at scheduling tools"), Turn(2, Role.ASSISTANT, "our nurses")]
    measures = measure(turns)
    known = dict(list(SALES_WORDS.terms.items())[:50])
    fewer = SalesWords(SALES_WORDS.factors, known, SALES_WORDS.intercepts, SALES_WORDS.mixes)

    assert raw_sales_overall(measures, fewer) != raw_sales_overall(measures)
    assert fewer.read(measures.sales_terms or {}) == fewer.read(
        {term: count for term, count in (measures.sales_terms or {}).items() if term in known})
