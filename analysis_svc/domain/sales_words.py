"""What the words of an English sales call say of the seller, as a coach scores each of the five sales factors.

Per factor, a ridge regression of the coach's score of its rubric dimension (tests/data/sales_corpus/RUBRIC.md) over
the seller's and the buyer's word unigrams and bigrams, tf-idf weighted, fitted on the labelled English calls by
``devtools.say_meter_text_models``, which writes the fit (vocabulary, idf, coefficients, intercepts and each factor's
mix with its rule) to ``sales_words_fit.json`` beside this module. Here it is read with plain arithmetic: the service
runs exactly what was fitted, without the fitting library.

The measures keep the call's counts of the fit's terms (``term_counts``), so a live reading adds a window's counts
to those kept rather than reading the whole call again."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from calls.turns import Role

FIT_FILE = Path(__file__).with_name("sales_words_fit.json")
_WORD = re.compile(r"[a-z0-9']+")


def grams(text: str) -> tuple[str, ...]:
    """The text's lower-cased words and the pairs of words that follow each other in it (never across turns)."""
    words = _WORD.findall(text.lower())
    return (*words, *(f"{first} {second}" for first, second in pairwise(words)))


def _side(role: Role) -> str:
    return "seller" if role == Role.USER else "buyer"


def turn_terms(role: Role, text: str) -> list[str]:
    """The turn's words and pairs of words (``grams``) under the side that said them: the seller's and the buyer's
    words are two vocabularies."""
    return [f"{_side(role)}:{gram}" for gram in grams(text)]


@dataclass(frozen=True, slots=True)
class SalesWords:
    """The fitted model: per term its idf and one coefficient per factor; per factor an intercept (on the coach's
    0-4 scale) and the share the learned score takes when mixed with the factor's rule."""

    factors: tuple[str, ...]
    terms: Mapping[str, tuple[float, ...]]  # term -> (idf, coefficient of each factor)
    intercepts: tuple[float, ...]
    mixes: tuple[float, ...]

    @classmethod
    def load(cls, path: Path = FIT_FILE) -> SalesWords:
        return cls.of(json.loads(path.read_text()))

    @classmethod
    def of(cls, fit: Mapping[str, Any]) -> SalesWords:
        """The model from a fit as ``devtools.say_meter_text_models`` writes it."""
        factors = tuple(fit["factors"])
        return cls(factors, {term: tuple(row) for term, row in fit["terms"].items()},
                   tuple(fit["factors"][name]["intercept"] for name in factors),
                   tuple(fit["factors"][name]["mix"] for name in factors))

    def term_counts(self, said: Iterable[tuple[Role, Iterable[str]]]) -> dict[str, int]:
        """How often each of the fit's terms is said, from each turn's side and ``grams`` (the others weigh
        nothing)."""
        counts: dict[str, int] = {}
        for role, turn_grams in said:
            side = _side(role)
            for gram in turn_grams:
                term = f"{side}:{gram}"
                if term in self.terms:
                    counts[term] = counts.get(term, 0) + 1
        return counts

    def read(self, counts: Mapping[str, int]) -> dict[str, float]:
        """Each factor's learned score, 0-100, from the call's term counts: sublinear tf-idf, l2-normalised (a term
        the fit does not know weighs nothing: a fit on fewer calls knows fewer terms)."""
        weights = {term: (1 + math.log(count)) * self.terms[term][0] for term, count in counts.items()
                   if count > 0 and term in self.terms}
        norm = math.sqrt(sum(weight * weight for weight in weights.values())) or 1.0
        return {name: max(0.0, min(100.0, 25 * (intercept + sum(
                    weight * self.terms[term][1 + k] for term, weight in weights.items()) / norm)))
                for k, (name, intercept) in enumerate(zip(self.factors, self.intercepts, strict=True))}

    def blend(self, rules: Mapping[str, float], counts: Mapping[str, int]) -> dict[str, float]:
        """Each factor: its rule's score mixed with the learned one in the fitted share."""
        learned = self.read(counts)
        return {name: (1 - mix) * rules[name] + mix * learned[name]
                for name, mix in zip(self.factors, self.mixes, strict=True)}


SALES_WORDS = SalesWords.load()
