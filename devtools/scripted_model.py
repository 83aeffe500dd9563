"""A scripted model for the closed loop, served by the tests' OpenAI-compatible fake on loopback
(tests/fake_openai.py): `make loop ENGINE=scripted` and tests/e2e/test_learning_openai.py close the loop on it.

Like a model, it follows an instruction of its prompt only most of the time: each instruction with probability
OBEDIENCE, drawn from the simulated call's seed (every persona request carries it) and the instruction, so each call
draws anew and a rerun, in any order, draws the same. It scripts one flaw: asked for refinements, it proposes a
structured patch replacing the trait that gives the budget away (BUDGET_TRAIT) with HOLD_BACK, for every
difficulty-5 bear; as a persona, its first answer gives the budget away when it follows that trait, and, once the
trait is replaced, when it disobeys the text that replaced it (as the flawed persona did). Every other answer is
short. What a loop on it measures is the loop's plumbing and its statistics under a model that disobeys one
instruction in five, not whether a real model follows a patch."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from learning_svc.domain.simulation import DEFAULT_EXCHANGES
from tests.fake_openai import messages

BUDGET_TRAIT = "gives its budget away in the first answer"
HOLD_BACK = "holds back its budget until the candidate has earned it"
# How often the scripted model, as a persona, follows each instruction of its prompt.
OBEDIENCE = 0.8
GIVEAWAY = "We have $60,000 a year set aside for this."
SHORT = "Fine. Show me the numbers."
# The paired validation calls a side of the closed loop's evolution run, and what that run asks of the model: a persona
# turn per exchange of each call, both sides, and its refinements request.
VALIDATION_CALLS = 24
MODEL_CALLS_PER_RUN = 2 * VALIDATION_CALLS * DEFAULT_EXCHANGES + 1


def obeys(seed: int, instruction: str) -> bool:
    """Whether the scripted model follows ``instruction`` in the simulated call ``seed``: a draw of probability
    OBEDIENCE keyed by both."""
    digest = hashlib.sha256(f"{seed}|{instruction}".encode()).digest()
    return random.Random(digest).random() < OBEDIENCE


def scripted_model(request: dict[str, Any]) -> dict[str, Any]:
    """The model's answer to one chat request: refinements, or a persona's turn."""
    system, user = messages(request)
    if '"refinements"' in system:
        finding = next(f for f in json.loads(user)["findings"] if f["kind"] == "FINDING_KIND_EARLY_DISCLOSURE")
        return {"refinements": [{
            "archetype": finding["archetype"], "target": "PATCH_TARGET_VOICE_PROMPT",
            "operation": "PATCH_OPERATION_EDIT_PART", "part": "PROMPT_PART_PERSONALITY_TRAITS",
            "edit": "PART_EDIT_REPLACE", "find_text": BUDGET_TRAIT, "text": HOLD_BACK,
            "scope": {"min_difficulty": 5, "max_difficulty": 5}, "finding_ids": [finding["finding_id"]],
            "rationale": "Its trait tells it to give the budget away; hold it back until it is earned."}]}
    turn = json.loads(user)
    if turn["transcript"]:
        return {"reply": SHORT}
    seed = turn["call_seed"]
    if HOLD_BACK in system:
        gives = not obeys(seed, HOLD_BACK)
    else:
        gives = BUDGET_TRAIT in system and obeys(seed, BUDGET_TRAIT)
    return {"reply": GIVEAWAY if gives else SHORT}
