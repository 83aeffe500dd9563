"""The learning runs' regression gate decides with a one-sided exact sign test per audit dimension, over seeded calls
paired by seed, the same p-value function validation and the side-effect check use; its settings are checked at
start-up, its bounds (calls, time) fail a run before anything is stored, and a run's scenario is rendered into every
call it plays."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from learning_svc.adapters.local_engine import LocalLearningEngine
from learning_svc.config import LearningSettings
from learning_svc.domain.evolution import compare_dimensions, sign_test_p_value, smallest_p_value
from learning_svc.domain.modules import Signal, TrainingEventSource
from learning_svc.domain.simulation import AuditScoreMeans, PlayedPrompts, SimulatedPersona, SimulationSummary
from learning_svc.service_layer.learning_runs import GateLimits, LearningRuns
from svckit.errors import DeadlineExceeded, FailedPrecondition, NotFound
from tests.unit.learning_fakes import FakePersonas, FakeUnitsOfWork, LearningTables, ScriptedEngine
from tests.unit.test_learning_evolution import RAMBLER
from tests.unit.test_learning_use_cases import ORGANIZATION, OWL_4, evolution_of, owl_refinements, run, summary

# ---------------------------------------------------------------------------------------------- the p-value


@pytest.mark.parametrize(("rises", "falls", "expected"), [
    (5, 0, 1 / 32),  # the least p-value of five pairs: under 0.05, so five calls can show a change
    (4, 0, 1 / 16),  # four cannot
    (10, 2, 79 / 4096),  # (C(12,10) + C(12,11) + C(12,12)) / 2^12
    (8, 2, 56 / 1024),  # just over 0.05
    (6, 6, 2510 / 4096),  # even: more than a half
    (12, 0, 1 / 4096),
    (0, 12, 1.0),  # every pair fell: nothing rose
])
def test_the_sign_test_gives_the_exact_binomial_tail(rises, falls, expected):
    differences = [1.0] * rises + [-2.0] * falls
    assert math.isclose(sign_test_p_value(differences), expected, rel_tol=1e-12)


def test_ties_say_nothing_and_no_moved_pair_shows_nothing():
    assert sign_test_p_value([1.0] * 5 + [0.0] * 7) == sign_test_p_value([1.0] * 5) == 1 / 32
    assert sign_test_p_value([0.0] * 12) == sign_test_p_value([]) == 1.0


@given(st.lists(st.sampled_from([-3.0, -1.0, 0.0, 0.5, 2.0]), max_size=40))
def test_the_two_tails_overlap_on_exactly_the_observed_count(differences):
    """P(X >= k) + P(X <= k) = 1 + P(X = k) for X ~ Binomial(n, 1/2), n the pairs that moved."""
    moved = [d for d in differences if d != 0]
    rises = sum(d > 0 for d in moved)
    both = sign_test_p_value(differences) + sign_test_p_value([-d for d in differences])
    assert math.isclose(both, 1 + math.comb(len(moved), rises) / 2 ** len(moved), rel_tol=1e-12)


@given(st.integers(min_value=1, max_value=60))
def test_the_least_p_value_is_that_of_every_pair_moving_one_way(pairs):
    assert smallest_p_value(pairs) == sign_test_p_value([1.0] * pairs)


@given(st.integers(min_value=1, max_value=60), st.sampled_from([0.01, 0.05, 0.1]))
def test_with_no_true_effect_a_dimension_is_found_worse_at_most_alpha_of_the_time(pairs, alpha):
    """Exactly, over every count of falls among pairs that all moved (the test's worst case: ties only lower it)."""
    size = sum(math.comb(pairs, falls) for falls in range(pairs + 1)
               if sign_test_p_value([1.0] * falls + [-1.0] * (pairs - falls)) < alpha) / 2 ** pairs
    assert size <= alpha


# ---------------------------------------------------------------------------------------------- dimensions


def calls(*pacing: float) -> SimulationSummary:
    """Calls that differ in their pacing only."""
    scores = tuple(AuditScoreMeans(8.0, 9.0, 9.0, 9.0, value, (35.0 + value) / 5) for value in pacing)
    mean = sum(pacing) / len(pacing)
    means = AuditScoreMeans(8.0, 9.0, 9.0, 9.0, round(mean, 2), round((35.0 + mean) / 5, 2))
    return SimulationSummary(len(pacing), means, 20.0, 0.0, scores)


def test_a_dimension_is_worse_when_enough_pairs_fell_and_not_on_a_few():
    before = calls(*[9.0] * 12)
    (pacing,) = [d for d in compare_dimensions(before, calls(*[7.0] * 10, 9.0, 10.0)) if d.dimension == "pacing"]
    assert (pacing.worse, pacing.worse_calls, pacing.better_calls) == (True, 10, 1)
    assert pacing.p_value == round(12 / 2048, 4) and (pacing.mean_before, pacing.mean_after) == (9.0, 7.42)
    # Four pairs fell, the rest tied: never significant, however far they fell.
    few = compare_dimensions(before, calls(*[1.0] * 4, *[9.0] * 8))
    assert not any(d.worse for d in few) and [d.p_value for d in few if d.dimension == "pacing"] == [0.0625]
    # The same falls judged at a stricter level.
    assert not any(d.worse for d in compare_dimensions(before, calls(*[7.0] * 6, *[9.0] * 6), alpha=0.01))


# ---------------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(("fields", "named"), [
    ({"gate_calls_per_persona": 4}, "gate_calls_per_persona"),
    ({"gate_calls_per_persona": 6, "gate_alpha": 0.01}, "too few for the sign test"),
    ({"gate_alpha": 0}, "gate_alpha"),
    ({"gate_alpha": 0.5}, "gate_alpha"),
    ({"gate_max_simulated_calls": 23}, "must fit one persona's calls on both sides"),
    ({"gate_timeout_seconds": 600}, "must be less than run_timeout_seconds"),
    ({"gate_timeout_seconds": 0}, "gate_timeout_seconds"),
])
def test_settings_under_which_the_gate_cannot_decide_are_refused_at_start_up(fields, named):
    with pytest.raises(ValidationError, match=named):
        LearningSettings(**fields)


def test_the_gate_settings_default_to_twelve_calls_at_five_percent_within_480_calls_and_two_minutes(monkeypatch):
    monkeypatch.setenv("LEARNING_GATE_CALLS_PER_PERSONA", "7")
    settings = LearningSettings()
    assert (settings.gate_calls_per_persona, settings.gate_alpha, settings.gate_max_simulated_calls,
            settings.gate_timeout_seconds) == (7, 0.05, 480, 120)
    assert LearningSettings(gate_calls_per_persona=5).gate_calls_per_persona == 5


# ---------------------------------------------------------------------------------------------- learning runs

SECOND_OWL = replace(OWL_4, persona="personas/o2", display_name="Olive Two")
SCENARIO = "scenarios/renewal"
DEFAULT_GATE = GateLimits()


def too_long(units: FakeUnitsOfWork, *personas: str) -> None:
    """Two pieces of feedback that each persona talks too long: a brevity module in draft, gated by the next run."""
    for persona in personas:
        for index in range(2):
            units.tables.events.append((f"{persona}-{index}", TrainingEventSource.FEEDBACK, f"feedback/{index}",
                                        Signal(persona, "brevity", -1.0)))


async def learn(units: FakeUnitsOfWork, engine, limits: GateLimits = DEFAULT_GATE, scenario: str = "",
                personas: Sequence[SimulatedPersona] = (RAMBLER,)) -> tuple[dict, FakePersonas]:
    directory = FakePersonas(*personas, scenarios=[SCENARIO])

    async def save(document: dict) -> None:
        pass

    done = await LearningRuns(units, directory, engine, gate_limits=limits).execute(
        ORGANIZATION, {"name": "learningRuns/l1", "persona": "", "scenario": scenario}, save)
    return done, directory


@pytest.fixture
def units() -> FakeUnitsOfWork:
    return FakeUnitsOfWork(LearningTables())


async def test_the_gate_holds_a_candidate_that_is_significantly_worse_on_one_dimension_naming_it(units):
    too_long(units, RAMBLER.persona)
    engine = ScriptedEngine(baseline=calls(*[9.0] * 12), patched=calls(*[7.0] * 11, 9.0))

    done, _ = await learn(units, engine)

    gate = done["gate"]
    (gated,) = gate["personas"]
    worse = [d for d in gated["dimensions"] if d["worse"]]
    assert [d["dimension"] for d in worse] == ["pacing"] and worse[0]["worse_calls"] == 11
    assert not gate["passed"] and not done["gate_passed"] and done["decision"] == "PUBLISH_DECISION_HELD"
    assert gate["explanation"].startswith(f"significantly worse: {RAMBLER.persona} pacing 9.00 -> 7.17")
    assert (gate["calls_per_persona"], gate["alpha"], gate["simulated_calls"]) == (12, 0.05, 12)


async def test_a_worse_mean_on_too_few_moved_pairs_does_not_fail_the_gate(units):
    """The old rule, candidate mean under current mean, would have held this one."""
    too_long(units, RAMBLER.persona)
    engine = ScriptedEngine(baseline=calls(*[9.0] * 12), patched=calls(1.0, 1.0, 9.5, *[9.0] * 9))

    done, _ = await learn(units, engine)

    assert done["gate"]["passed"] and done["gate_passed"], done["gate"]["explanation"]
    assert done["gate"]["candidate_score"] < done["gate"]["current_score"]


async def test_on_the_local_stand_in_a_brevity_module_for_a_rambler_passes_the_gate_in_the_runs_scenario(units):
    too_long(units, RAMBLER.persona)

    done, directory = await learn(units, LocalLearningEngine(), scenario=SCENARIO)

    (gated,) = done["gate"]["personas"]
    assert done["gate"]["passed"], done["gate"]["explanation"]
    (brevity,) = [d for d in gated["dimensions"] if d["dimension"] == "brevity"]
    assert brevity["mean_after"] > brevity["mean_before"] and not brevity["worse"]
    assert {scenario for _, scenario, _ in directory.renderings} == {SCENARIO}
    assert {changed for *_, changed in directory.renderings} == {False, True}  # as published, and with the module


async def test_a_gate_over_its_bound_of_calls_fails_the_run_before_playing_or_storing_anything(units):
    too_long(units, RAMBLER.persona, SECOND_OWL.persona)
    engine = ScriptedEngine(baseline=calls(*[9.0] * 12), patched=calls(*[9.0] * 12))

    with pytest.raises(FailedPrecondition) as refused:
        await learn(units, engine, GateLimits(max_simulated_calls=47), personas=(RAMBLER, SECOND_OWL))

    assert refused.value.reason == "GATE_TOO_LARGE"
    assert "would play 48 simulated calls" in str(refused.value) and "(47)" in str(refused.value)
    assert engine.simulated_prompts == [] and units.tables.modules == {} and units.tables.processed == {}


class NeverAnswers(LocalLearningEngine):
    """An engine that never finishes a call; it says when it was asked."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()

    async def simulate_pair(self, personas: Sequence[SimulatedPersona], calls: int,
                            prompts: Mapping[str, PlayedPrompts]) -> tuple[SimulationSummary, SimulationSummary]:
        self.asked.set()
        await asyncio.Event().wait()
        raise AssertionError("never answered")


async def test_a_gate_over_its_time_fails_the_run_and_stores_nothing(units):
    too_long(units, RAMBLER.persona)
    engine = NeverAnswers()

    with pytest.raises(DeadlineExceeded) as late:
        await learn(units, engine, GateLimits(timeout_seconds=0.05))

    assert engine.asked.is_set() and late.value.reason == "GATE_TIMEOUT"
    assert "LEARNING_GATE_TIMEOUT_SECONDS (0.05 s)" in str(late.value)
    assert units.tables.modules == {} and units.tables.processed == {}


async def test_a_learning_run_in_a_scenario_the_persona_service_does_not_know_fails_before_anything(units):
    too_long(units, RAMBLER.persona)
    engine = ScriptedEngine(baseline=calls(*[9.0] * 12), patched=calls(*[9.0] * 12))

    with pytest.raises(NotFound) as unknown:
        await learn(units, engine, scenario="scenarios/gone")

    assert unknown.value.reason == "UNKNOWN_SCENARIO" and unknown.value.metadata == {"resource": "scenarios/gone"}
    assert engine.simulated_prompts == [] and units.tables.modules == {} and units.tables.processed == {}


# ---------------------------------------------------------------------------------------------- evolution runs


async def test_an_evolution_run_plays_validation_and_side_effects_in_its_scenario(units):
    personas = FakePersonas(OWL_4, scenarios=[SCENARIO])
    local = ScriptedEngine(tuple(owl_refinements()), baseline=summary(2.0, 7.6), patched=summary(9.5, 9.1))

    final, _ = await run(evolution_of(units, local, personas=personas), scenario=SCENARIO)

    assert final["validate"]["results"][0]["passed"] and final["validate"]["results"][0]["side_effects"]
    assert len(local.simulated_prompts) == 2  # validation, then the side effects on the one owl it reaches
    assert personas.renderings and {scenario for _, scenario, _ in personas.renderings} == {SCENARIO}


async def test_an_evolution_run_in_an_unknown_scenario_fails_before_its_first_stage(units):
    local = ScriptedEngine(tuple(owl_refinements()), baseline=summary(2.0, 7.6), patched=summary(9.5, 9.1))

    with pytest.raises(NotFound) as unknown:
        await run(evolution_of(units, local), scenario="scenarios/gone")

    assert unknown.value.reason == "UNKNOWN_SCENARIO" and local.simulated_prompts == []
