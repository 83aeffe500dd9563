"""Training signals and per-persona learned modules, from feedback and audits.

Every piece of feedback and every audit becomes one normalised event: a persona, the module it speaks
to, and a signal from -1.0 (bad) to 1.0 (good). A learning run folds events into each module's
Beta(positive, negative) belief; its confidence is the mean of that belief, the share of good signal.
A module whose confidence falls under the floor is retired; the rest wait for the regression gate."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from calls.persona_audit import AuditScores

# A new module starts undecided: Beta(1, 1), confidence 0.5.
PRIOR = 1.0
RETIRE_BELOW = 0.25
# Retiring on one or two bad signals would be noise.
RETIRE_MIN_EVENTS = 5
# A published audit-dimension module under this confidence makes the persona reinforce that dimension.
REINFORCE_BELOW = 0.5
AUDIT_DIMENSIONS = ("brevity", "authenticity", "consistency", "enthusiasm_leak", "pacing")
GENERAL_MODULE = "general"


class TrainingEventSource(StrEnum):
    FEEDBACK = "TRAINING_EVENT_SOURCE_FEEDBACK"
    PERSONA_AUDIT = "TRAINING_EVENT_SOURCE_PERSONA_AUDIT"


class ModuleStatus(StrEnum):
    DRAFT = "MODULE_STATUS_DRAFT"
    ACTIVE = "MODULE_STATUS_ACTIVE"
    HELD = "MODULE_STATUS_HELD"
    RETIRED = "MODULE_STATUS_RETIRED"


@dataclass(frozen=True, slots=True)
class Signal:
    persona: str
    module: str
    signal: float


def audit_signal(persona: str, scores: AuditScores) -> Signal:
    """An audit speaks to its weakest dimension, by that dimension's own score (1-10 onto -1..1): a call with
    brevity 1/10 is bad news for brevity however well the rest went."""
    values = dict(zip(AUDIT_DIMENSIONS, scores.as_tuple(), strict=True))
    weakest = min(AUDIT_DIMENSIONS, key=lambda name: (values[name], AUDIT_DIMENSIONS.index(name)))
    return Signal(persona, weakest, round(max(-1.0, min(1.0, (values[weakest] - 5.5) / 4.5)), 4))


def feedback_signal(persona: str, intent_label: str, score: float, reason: str = "") -> Signal:
    """Feedback speaks to the audit dimension its reason names ("too_long" is about brevity), else to its intent
    label, else to the general module."""
    dimension = _DIMENSION_OF_REASON.get(re.sub(r"[\s-]+", "_", reason.strip().casefold()))
    return Signal(persona, dimension or intent_label or GENERAL_MODULE, score)


# Feedback reasons (short labels) that name what an audit dimension measures.
_DIMENSION_OF_REASON = {
    **dict.fromkeys(("too_long", "long_winded", "rambling", "rambles", "verbose", "wordy", "too_wordy",
                     "monologue", "brevity"), "brevity"),
    **dict.fromkeys(("too_eager", "too_enthusiastic", "gushing", "too_excited", "too_warm", "enthusiasm_leak"),
                    "enthusiasm_leak"),
    **dict.fromkeys(("out_of_character", "broke_character", "breaks_character", "sounds_like_an_ai",
                     "sounds_like_ai", "robotic", "assistant_like", "authenticity"), "authenticity"),
    **dict.fromkeys(("gave_in_too_early", "gives_in_too_early", "too_easy", "no_pushback", "too_agreeable",
                     "pacing"), "pacing"),
    **dict.fromkeys(("inconsistent", "contradicts_itself", "out_of_tone", "consistency"), "consistency"),
}


@dataclass(frozen=True, slots=True)
class Module:
    persona: str
    module: str
    positive: float
    negative: float
    status: ModuleStatus
    event_count: int

    @property
    def confidence(self) -> float:
        return round(self.positive / (self.positive + self.negative), 4)


def fresh_module(persona: str, module: str) -> Module:
    return Module(persona, module, PRIOR, PRIOR, ModuleStatus.DRAFT, 0)


def fold(module: Module, signals: Iterable[float]) -> Module:
    """The module after these signals: each splits one unit of evidence between good and bad."""
    positive, negative, count = module.positive, module.negative, module.event_count
    for signal in signals:
        positive += (1 + signal) / 2
        negative += (1 - signal) / 2
        count += 1
    folded = replace(module, positive=positive, negative=negative, event_count=count)
    retire = folded.confidence < RETIRE_BELOW and count >= RETIRE_MIN_EVENTS
    return replace(folded, status=ModuleStatus.RETIRED if retire else ModuleStatus.DRAFT)


def published_reinforcements(modules: Iterable[Module]) -> list[tuple[Module, str]]:
    """What a persona is told at call time for its published weak audit dimensions, each with its module; said
    without figures the persona service would have to supply (its length target comes from its difficulty)."""
    return [(module, f"{_TOLD[module.module]} (learned from {module.event_count} signals; confidence "
                     f"{module.confidence:.2f})")
            for module in sorted(modules, key=lambda m: m.module)
            if module.status == ModuleStatus.ACTIVE and module.confidence < REINFORCE_BELOW and module.module in _TOLD]


_TOLD = {
    "brevity": "Keep every answer short: one point, then stop.",
    "enthusiasm_leak": "Keep a flat, guarded tone: no exclamation marks, never gush.",
    "authenticity": "Stay in character: never mention being an AI or your instructions.",
    "pacing": "Make one point per turn, then stop and let the candidate lead.",
}
