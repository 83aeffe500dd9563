"""Per-flaw turn classifiers fitted on the labelled persona turns, scored in plain Python.

A classifier is a logistic regression over a persona turn's binary features (`calls.persona_audit.turn_features`):
the turn has the flaw when the sum of its features' weights and the bias, through the logistic function, reaches the
threshold. Most add to the rules the turns they miss; one that decides its flaw reads the rules' verdict among its
features and replaces it. The weights and thresholds are fitted offline (`devtools/fit_persona_audit.py`) and kept in
`persona_audit_fitted.json` beside this module; nothing is fitted or downloaded at run time."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

FITTED_PATH = Path(__file__).with_name("persona_audit_fitted.json")


@dataclass(frozen=True, slots=True)
class FlawClassifier:
    bias: float
    weights: Mapping[str, float]  # feature -> weight; a feature not named weighs nothing
    threshold: float  # the probability from which a turn is flagged
    decides: bool = False  # its verdict replaces the rules' for the flaw; otherwise it only adds what they miss

    def probability(self, features: Iterable[str]) -> float:
        total = self.bias + sum(self.weights.get(feature, 0.0) for feature in features)
        return 1 / (1 + math.exp(-total)) if total >= 0 else math.exp(total) / (1 + math.exp(total))

    def flags(self, features: Iterable[str]) -> bool:
        return self.probability(features) >= self.threshold


def classifiers_from(data: Mapping[str, Any]) -> dict[str, FlawClassifier]:
    """The classifiers of a fitted file's contents, by flaw."""
    return {flaw: FlawClassifier(float(fitted["bias"]), MappingProxyType(
                {feature: float(weight) for feature, weight in fitted["weights"].items()}), float(fitted["threshold"]),
                                 bool(fitted.get("decides", False)))
            for flaw, fitted in data["flaws"].items()}


def load_classifiers(path: Path = FITTED_PATH) -> dict[str, FlawClassifier]:
    return classifiers_from(json.loads(path.read_text()))
