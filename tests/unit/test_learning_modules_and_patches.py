"""Training signals, module confidence, and the lifecycle rules of prompt patches."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from calls.persona_audit import AuditScores, WordRange
from learning_svc.domain.modules import (
    ModuleStatus,
    audit_signal,
    feedback_signal,
    fold,
    fresh_module,
    published_reinforcements,
)
from learning_svc.domain.patches import (
    PatchChange,
    PatchOperation,
    PatchOrigin,
    PatchState,
    PatchTarget,
    PromptPatch,
    check_approvable,
    revised,
    supersedes_on_approval,
)
from learning_svc.domain.simulation import SimulatedPersona, SimulationSummary, simulate
from svckit.errors import FailedPrecondition


def test_an_audit_speaks_to_its_weakest_dimension_with_a_signal_from_that_dimensions_own_score():
    signal = audit_signal("personas/p", AuditScores(3, 8, 8, 9, 7))
    assert (signal.module, signal.signal) == ("brevity", pytest.approx(-2.5 / 4.5, abs=1e-4))
    assert audit_signal("personas/p", AuditScores(10, 10, 10, 10, 10)).signal == 1.0
    assert audit_signal("personas/p", AuditScores(1, 1, 1, 1, 1)).signal == -1.0


def test_audits_that_fail_on_brevity_bring_brevity_confidence_down_however_good_the_rest():
    signals = [audit_signal("personas/p", AuditScores(1, 10, 10, 10, 10)) for _ in range(8)]  # overall 8.2 each
    assert {signal.module for signal in signals} == {"brevity"}
    brevity = fold(fresh_module("personas/p", "brevity"), [signal.signal for signal in signals])
    assert brevity.confidence < 0.25 and brevity.status == ModuleStatus.RETIRED
    assert feedback_signal("personas/p", "", -1.0).module == "general"


def test_feedback_whose_reason_names_an_audit_dimension_speaks_to_that_dimension():
    """Six explicit "too long" feedbacks bring brevity down, whatever the answer was meant to do."""
    signals = [feedback_signal("personas/p", "factual_with_evidence", -1.0, reason) for reason in
               ("too_long", "Too long", "too-long", "rambling", "verbose", "long-winded")]
    assert {signal.module for signal in signals} == {"brevity"}
    assert fold(fresh_module("personas/p", "brevity"), [s.signal for s in signals]).confidence < 0.25
    assert feedback_signal("personas/p", "factual_with_evidence", -1.0, "incorrect").module == "factual_with_evidence"
    assert feedback_signal("personas/p", "", 1.0, "sounds like an AI").module == "authenticity"


def test_confidence_follows_the_signals_and_a_module_that_keeps_failing_is_retired():
    module = fresh_module("personas/p", "factual")
    assert module.confidence == 0.5
    better = fold(module, [1.0, 1.0, 0.5])
    assert better.confidence > 0.5 and better.event_count == 3 and better.status == ModuleStatus.DRAFT
    worse = fold(module, [-1.0] * 4)
    assert worse.confidence < 0.25 and worse.status == ModuleStatus.DRAFT  # too few events to retire on
    assert fold(worse, [-1.0]).status == ModuleStatus.RETIRED


def test_the_stand_in_follows_what_published_weak_modules_tell_in_the_rendered_prompt():
    """Played from its rendered prompt, a long-winded, gushing persona keeps to its own target length (8-16 words at
    difficulty 4) once the prompt tells its published brevity module, and stops gushing once it tells its published
    enthusiasm module; held modules are not told, so not followed."""
    weak = replace(fresh_module("personas/p", "brevity"), positive=1.5, negative=6.5, status=ModuleStatus.ACTIVE,
                   event_count=8)
    modules = [weak, replace(weak, module="enthusiasm_leak")]
    persona = SimulatedPersona("personas/p", difficulty=4, communication_style="Long-winded; enthusiastic.")
    prompt = "You are P, a buyer. Long-winded; enthusiastic."

    def played(told_modules) -> SimulationSummary:
        told = " ".join(text for _, text in published_reinforcements(told_modules))
        return simulate([persona], (), 6, prompts={persona.persona: f"{prompt} {told}".strip()})

    plain = played([replace(module, status=ModuleStatus.HELD) for module in modules])
    reinforced = played(modules)
    assert plain.avg_words_per_turn > 16 >= reinforced.avg_words_per_turn
    assert plain.scores.enthusiasm_leak < reinforced.scores.enthusiasm_leak == 10


def _patch(name: str, state: PatchState, operation=PatchOperation.CHANGE_LENGTH_RANGE) -> PromptPatch:
    now = datetime.now(UTC)
    change = PatchChange("archetypes/owl", PatchTarget.VOICE_PROMPT, operation, "Keep it short.", "",
                         WordRange(8, 12))
    return PromptPatch(name=name, archetype=change.archetype, target=change.target, operation=change.operation,
                       text=change.text, phrase="", words_per_turn=change.words_per_turn, state=state,
                       origin=PatchOrigin.MANUAL, evolution_run="", refinement_id="", motivation="",
                       source_audit_count=0, validated=False, validation_score=0.0, baseline_score=0.0,
                       supersedes="", superseded_by="", create_time=now, update_time=now, activate_time=None,
                       revision=1, etag="e1")


def test_only_proposed_and_deactivated_patches_can_be_approved():
    check_approvable(_patch("patches/a", PatchState.PROPOSED))
    check_approvable(_patch("patches/a", PatchState.DEACTIVATED))
    with pytest.raises(FailedPrecondition) as rejected:
        check_approvable(_patch("patches/a", PatchState.REJECTED))
    assert rejected.value.reason == "PATCH_REJECTED"
    for state in (PatchState.SUPERSEDED, PatchState.ROLLED_BACK):
        with pytest.raises(FailedPrecondition) as invalid:
            check_approvable(_patch("patches/a", state))
        assert invalid.value.reason == "INVALID_PATCH_STATE"


def test_a_new_length_range_supersedes_the_active_one_and_other_operations_supersede_nothing():
    active = [_patch("patches/old", PatchState.ACTIVE),
              _patch("patches/rule", PatchState.ACTIVE, PatchOperation.ADD_RULE)]
    assert supersedes_on_approval(_patch("patches/new", PatchState.PROPOSED), active).name == "patches/old"
    assert supersedes_on_approval(_patch("patches/new", PatchState.PROPOSED, PatchOperation.ADD_RULE), active) is None


def test_every_change_is_a_new_revision_with_a_new_etag():
    patch = _patch("patches/a", PatchState.PROPOSED)
    changed = revised(patch, datetime.now(UTC), state=PatchState.ACTIVE)
    assert (changed.revision, changed.state) == (2, PatchState.ACTIVE) and changed.etag != patch.etag


def test_only_published_modules_that_call_for_reinforcement_are_told_with_their_confidence():
    weak = replace(fresh_module("personas/p", "brevity"), positive=1.5, negative=6.5, status=ModuleStatus.ACTIVE,
                   event_count=8)
    told = published_reinforcements([
        weak,
        replace(weak, module="pacing", status=ModuleStatus.HELD),
        replace(weak, module="enthusiasm_leak", status=ModuleStatus.RETIRED),
        replace(weak, module="authenticity", positive=8.0, negative=2.0),
        replace(weak, module="factual_with_evidence"),  # no reinforcement is known for it
    ])
    assert told == [(weak, "Keep every answer short: one point, then stop. (learned from 8 signals; "
                           "confidence 0.19)")]
