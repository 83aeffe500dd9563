"""The sales factors' learned reading of a call's words: the engine runs exactly the committed fit, reads a call as
the fitting library does, and leaves a call in another language to the rules."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from analysis_svc.domain.conversation import measure
from analysis_svc.domain.phrasebook import phrases_for
from analysis_svc.domain.sales_words import FIT_FILE, SALES_WORDS
from analysis_svc.domain.say_meter import factor_scores, sales_factors, score, weigh
from calls.job_tracks import Blueprint
from calls.turns import Role, Turn
from devtools.say_meter_corpus import load_calls, turns_of
from devtools.say_meter_text_models import ADOPTED_WORDS, Calls, Featuriser, engine_fit, fit_ridges, load


@pytest.fixture(scope="module")
def corpus() -> Calls:
    return load()[0]


@pytest.mark.timeout(600)  # reading all 920 English calls and fitting on them: about two minutes, more when loaded
def test_a_fresh_fit_is_the_committed_one(corpus):
    fresh, committed = engine_fit(corpus), json.loads(FIT_FILE.read_text())
    assert fresh["factors"] == committed["factors"]
    assert fresh["terms"].keys() == committed["terms"].keys()
    assert all(np.allclose(row, committed["terms"][term], rtol=0, atol=1e-8) for term, row in fresh["terms"].items())


def test_the_engine_reads_a_call_as_the_fit_does(corpus):
    featuriser = Featuriser(ADOPTED_WORDS.with_factors)
    rows = featuriser.fit_transform(ADOPTED_WORDS.terms(corpus), corpus.factors).toarray()
    coefficients, intercepts = fit_ridges(rows, corpus.dimensions, [
        factor["strength"] for factor in json.loads(FIT_FILE.read_text())["factors"].values()])
    fitted = np.clip(25 * (rows @ coefficients.T + intercepts), 0, 100)
    read = [list(SALES_WORDS.read(measure(turns_of(call)).sales_terms or {}).values())
            for call in load_calls("all_english")]
    assert np.allclose(read, fitted, rtol=0, atol=1e-6)


def _turns(*said: tuple[str, str]) -> list[Turn]:
    return [Turn(n, Role(role), text) for n, (role, text) in enumerate(said, start=1)]


CALL = _turns(("user", "what made you look at scheduling tools this spring"),
              ("assistant", "our nurses lose an hour a day swapping shifts"),
              ("user", "an hour a day, what does that cost you across the ward"),
              ("assistant", "about forty hours a week, and overtime on top"))


def test_each_factor_mixes_its_rule_with_the_words():
    metrics = measure(CALL)
    rules, learned = factor_scores(metrics), SALES_WORDS.read(metrics.sales_terms or {})
    untested_at = np.mean([value for value in rules.values() if value is not None])
    for name, mix in zip(SALES_WORDS.factors, SALES_WORDS.mixes, strict=True):
        rule = untested_at if rules[name] is None else rules[name]
        assert sales_factors(metrics)[name] == pytest.approx((1 - mix) * rule + mix * learned[name])
    assert score(metrics, Blueprint.SALES).score == round(weigh(sales_factors(metrics), {name: 20 for name in rules}))


def test_a_call_not_read_in_english_keeps_the_rules():
    spanish = measure(CALL, phrases=phrases_for("es"))
    assert spanish.sales_terms is None
    assert sales_factors(spanish) == factor_scores(spanish)


def test_a_call_where_the_seller_has_not_spoken_is_not_read():
    metrics = measure(_turns(("assistant", "hello, who is this")))
    assert sales_factors(metrics) == factor_scores(metrics)
    assert score(metrics, Blueprint.SALES).score == score(dataclasses.replace(metrics, sales_terms=None),
                                                          Blueprint.SALES).score
