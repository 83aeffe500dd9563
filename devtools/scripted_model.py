"""A scripted model for the closed loop, served by the tests' OpenAI-compatible fake on loopback
(tests/fake_openai.py): `make loop ENGINE=scripted` and tests/e2e/test_learning_openai.py close the loop on it.

Like a model, it follows an instruction of its prompt only most of the time: each instruction with probability
OBEDIENCE, drawn from the simulated call's seed (every persona request carries it) and the instruction, so each call
draws anew and a rerun, in any order, draws the same. It scripts two flaws (FLAWS), each told by a trait of the
persona: a difficulty-5 bear that gives its budget away in its first answer, and a difficulty-4 fox that answers every
question in a word or two. Asked for refinements, it proposes for each flaw the run found a structured patch replacing
the trait with its fix, for every persona of that archetype and difficulty; as a persona, it plays the flaw when it
follows the trait and, once the trait is replaced, when it disobeys the text that replaced it (as the flawed persona
did). A persona told neither answers every turn with the same short line. What a loop on it measures is the loop's
plumbing and its statistics under a model that disobeys one instruction in five, not whether a real model follows a
patch."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

from learning_svc.domain.simulation import DEFAULT_EXCHANGES
from tests.fake_openai import messages

BUDGET_TRAIT = "gives its budget away in the first answer"
HOLD_BACK = "holds back its budget until the candidate has earned it"
TERSE_TRAIT = "answers every question in a word or two"
EXPLAINS = "answers every open question with a reason or an example"
# How often the scripted model, as a persona, follows each instruction of its prompt.
OBEDIENCE = 0.8
GIVEAWAY = "We have $60,000 a year set aside for this."
SHORT = "Fine. Show me the numbers."
# A terse persona's answers, turn by turn, when it plays its flaw, and when it gives a reason or an example: within
# the 8-16 words of its difficulty, and none said twice in a call.
TERSE = ("Spreadsheets.", "Manual reconciling.", "Reporting, mostly.", "Month-end.", "Finance.", "Slowly.",
         "The warehouse.", "Audits.")
EXPLAINED = (
    "We reconcile in spreadsheets, because the old warehouse never matches the ledger.",
    "Month-end takes two weeks, for example, since every region reports its own way.",
    "Mostly reporting, because the board wants numbers we can defend line by line.",
    "Manual checks worry me, since one wrong cell once delayed our external audit.",
    "Finance owns it today, for example our controller rebuilds the forecast by hand.",
    "Slowly, because each fix needs sign-off from three teams before it ships.",
    "The warehouse is the bottleneck, for example a refresh takes most of a night.",
    "Audits matter most, since last year we restated a quarter because of one error.",
)
# The paired validation calls a side of the closed loop's evolution run, and what that run asks of the model: a persona
# turn per exchange of each call, both sides, and its refinements request.
VALIDATION_CALLS = 24
MODEL_CALLS_PER_RUN = 2 * VALIDATION_CALLS * DEFAULT_EXCHANGES + 1


@dataclass(frozen=True)
class ScriptedFlaw:
    """A flaw the scripted model plays and corrects: the finding it answers, the trait that tells it, what replaces
    the trait, and the difficulty of the personas the patch reaches."""

    finding_kind: str
    trait: str
    fix: str
    difficulty: int
    rationale: str


BUDGET_FIRST = ScriptedFlaw("FINDING_KIND_EARLY_DISCLOSURE", BUDGET_TRAIT, HOLD_BACK, 5,
                            "Its trait tells it to give the budget away; hold it back until it is earned.")
TERSE_ANSWERS = ScriptedFlaw("FINDING_KIND_MINIMAL_ANSWER", TERSE_TRAIT, EXPLAINS, 4,
                             "Its trait tells it to answer in a word or two; give a reason or an example instead.")
FLAWS = (BUDGET_FIRST, TERSE_ANSWERS)


def obeys(seed: int, instruction: str) -> bool:
    """Whether the scripted model follows ``instruction`` in the simulated call ``seed``: a draw of probability
    OBEDIENCE keyed by both."""
    digest = hashlib.sha256(f"{seed}|{instruction}".encode()).digest()
    return random.Random(digest).random() < OBEDIENCE


def plays_flaw(system: str, seed: int, flaw: ScriptedFlaw) -> bool | None:
    """Whether the persona of this prompt plays the flaw in the call ``seed``: it follows the trait, or disobeys the
    fix that replaced it; None when its prompt tells it neither."""
    if flaw.fix in system:
        return not obeys(seed, flaw.fix)
    if flaw.trait in system:
        return obeys(seed, flaw.trait)
    return None


def _refinement(finding: dict[str, Any], flaw: ScriptedFlaw) -> dict[str, Any]:
    return {"archetype": finding["archetype"], "target": "PATCH_TARGET_VOICE_PROMPT",
            "operation": "PATCH_OPERATION_EDIT_PART", "part": "PROMPT_PART_PERSONALITY_TRAITS",
            "edit": "PART_EDIT_REPLACE", "find_text": flaw.trait, "text": flaw.fix,
            "scope": {"min_difficulty": flaw.difficulty, "max_difficulty": flaw.difficulty},
            "finding_ids": [finding["finding_id"]], "rationale": flaw.rationale}


def scripted_model(request: dict[str, Any]) -> dict[str, Any]:
    """The model's answer to one chat request: refinements, or a persona's turn."""
    system, user = messages(request)
    if '"refinements"' in system:
        findings = json.loads(user)["findings"]
        found = ((next((f for f in findings if f["kind"] == flaw.finding_kind), None), flaw) for flaw in FLAWS)
        return {"refinements": [_refinement(finding, flaw) for finding, flaw in found if finding is not None]}
    turn = json.loads(user)
    seed, spoken = turn["call_seed"], len(turn["transcript"]) // 2
    terse = plays_flaw(system, seed, TERSE_ANSWERS)
    if terse is not None:
        return {"reply": (TERSE if terse else EXPLAINED)[spoken % len(TERSE)]}
    if turn["transcript"]:
        return {"reply": SHORT}
    return {"reply": GIVEAWAY if plays_flaw(system, seed, BUDGET_FIRST) else SHORT}
