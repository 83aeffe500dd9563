"""The learning service's use cases on in-memory ports: recording audits, the life of a patch, and an
evolution run with scripted engines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from calls.persona_audit import FlagReason
from learning_svc.adapters.local_engine import LocalLearningEngine
from learning_svc.domain.evolution import CorpusAudit, Engine, Proposals, flag_reason_name, generate_refinements
from learning_svc.domain.modules import TrainingEventSource
from learning_svc.domain.patches import (
    PatchAction,
    PatchChange,
    PatchOperation,
    PatchOrigin,
    PatchState,
    PatchTarget,
)
from learning_svc.domain.simulation import PlayedPrompts, SimulatedPersona
from learning_svc.service_layer.corpus import Corpus
from learning_svc.service_layer.evolution import STAGES, Evolution, OpenAILimits
from learning_svc.service_layer.patches import Patches
from svckit.cache import InvalidatedCache
from svckit.errors import EtagMismatch, FailedPrecondition, NotFound
from svckit.openai_json import EngineFailure
from svckit.pagination import PageTokens
from svckit.records import to_record
from svckit.usecase import Mutation
from tests.builders import caller
from tests.unit.learning_fakes import FakePersonas, FakeUnitsOfWork, LearningTables, ScriptedEngine
from tests.unit.test_learning_evolution import RAMBLER, findings_for, owl_22, rambler_calls, summary

# Of the corpus audits' difficulty, which the owl length range is scoped to.
OWL_4 = replace(RAMBLER, difficulty=4)

TOKENS = PageTokens.from_secret("test")
OPERATOR = caller("admin", subject="operator@example.com")
ORGANIZATION = OPERATOR.organization
ELSEWHERE = caller("admin", subject="admin@globex", organization="globex")
# A service that named no organization to act for.
NOBODY = caller("service", subject="service:analysis", organization="")
OWL_LENGTH = PatchChange("archetypes/owl", PatchTarget.VOICE_PROMPT, PatchOperation.ADD_RULE,
                         "Keep every answer short.", "", None)


def stored(audit: CorpusAudit) -> dict:
    """The audit as the corpus keeps it: its contract's shape."""
    record = to_record(audit)
    for quote in record["flagged_quotes"]:
        quote["reason"] = flag_reason_name(FlagReason(quote["reason"]))
    return {**record, "session": f"sessions/{audit.name.rsplit('/', 1)[1]}"}


def request(request_id: str, fingerprint: str = "the same request") -> Mutation:
    return Mutation(OPERATOR, request_id, fingerprint)


@pytest.fixture
def units() -> FakeUnitsOfWork:
    return FakeUnitsOfWork(LearningTables())


def patches_of(units: FakeUnitsOfWork) -> Patches:
    return Patches(units, TOKENS, InvalidatedCache("test_learning_active_patches", 100))


async def test_an_audit_is_recorded_once_with_its_training_event(units):
    corpus = Corpus(units, TOKENS)
    document = stored(owl_22()[0])

    first = await corpus.record_audit(ORGANIZATION, "o1", document)
    again = await corpus.record_audit(ORGANIZATION, "o1", {**document, "overall_score": 1.0})

    assert not first.duplicate and again.duplicate
    assert again.document == first.document and first.document["name"] == "corpusAudits/o1"
    assert first.document["overall_score"] == document["overall_score"]  # the repeat changed nothing
    ((_, source, origin, signal),) = units.tables.events
    assert (source, origin, signal.persona) == (TrainingEventSource.PERSONA_AUDIT, "corpusAudits/o1", "personas/o1")


async def test_a_created_patch_is_approved_and_retries_are_answered_from_the_first_attempt(units):
    patches = patches_of(units)

    created = await patches.create("p1", OWL_LENGTH, "Owls talk too long", request("create-1"))
    retried = await patches.create("", OWL_LENGTH, "Owls talk too long", request("create-1"))
    approved = await patches.approve("p1", created.etag, "looks right", request("approve-1"))
    approved_again = await patches.approve("p1", created.etag, "looks right", request("approve-1"))

    assert retried == created and created.state == PatchState.PROPOSED and created.origin == PatchOrigin.MANUAL
    assert approved_again == approved and approved.state == PatchState.ACTIVE and approved.revision == 2
    assert list(units.tables.patches) == ["patches/p1"]
    assert units.tables.revisions == [("patches/p1", PatchAction.CREATE, "operator@example.com", "Owls talk too long"),
                                      ("patches/p1", PatchAction.APPROVE, "operator@example.com", "looks right")]
    assert (await patches.active_set(ORGANIZATION, "archetypes/owl", [])).patches == [approved]


async def test_a_refused_change_leaves_the_patch_as_it_was(units):
    patches = patches_of(units)
    created = await patches.create("p1", OWL_LENGTH, "Owls talk too long", request("create-1"))
    await patches.reject("p1", created.etag, "not needed", request("reject-1"))
    before = (dict(units.tables.patches), list(units.tables.revisions), dict(units.tables.requests))

    with pytest.raises(FailedPrecondition) as refused:
        await patches.approve("p1", "", "after all", request("approve-1"))
    with pytest.raises(EtagMismatch):
        await patches.reject("p1", created.etag, "stale", request("reject-2"))

    assert refused.value.reason == "PATCH_REJECTED"
    assert (units.tables.patches, units.tables.revisions, units.tables.requests) == before


def evolution_of(units: FakeUnitsOfWork, local: ScriptedEngine, openai: ScriptedEngine | None = None,
                 personas: FakePersonas | None = None, openai_limits: OpenAILimits | None = None) -> Evolution:
    for audit in owl_22():
        units.tables.audits[audit.name.rsplit("/", 1)[1]] = stored(audit)
    return Evolution(units, Corpus(units, TOKENS), personas or FakePersonas(OWL_4), local, openai, openai_limits)


def owl_refinements() -> Sequence:
    return generate_refinements(findings_for(owl_22()), [], max_refinements=5)


async def run(evolution: Evolution, organization: str = ORGANIZATION, **options: object) -> tuple[dict, list[dict]]:
    saved: list[dict] = []

    async def save(document: dict) -> None:
        saved.append(document)

    final = await evolution.execute(organization, {"name": "evolutionRuns/e1", "archetype": "archetypes/owl",
                                                   "options": options}, save)
    return final, saved


async def test_an_evolution_run_writes_the_refinement_its_simulated_calls_pass_and_leaves_it_for_approval(units):
    """auto_apply does not activate what only the local stand-in validated: it obeys the rules it validates."""
    local = ScriptedEngine(tuple(owl_refinements()), baseline=summary(2.0, 7.6), patched=summary(9.5, 9.1))

    final, saved = await run(evolution_of(units, local), auto_apply=True)

    assert [final[stage]["status"]["state"] for stage in ("analyze_corpus", "identify_patterns",
                                                          "generate_refinements", "validate", "apply")] \
        == ["STAGE_STATE_SUCCEEDED"] * 5
    assert final["generate_refinements"]["engine"] == Engine.LOCAL
    assert [result["passed"] for result in final["validate"]["results"]] == [True]
    # With and without the refinement, each side's prompt as RenderPrompt renders it: on the flawed personas, then
    # on the one persona it reaches, alone.
    (refinement,) = final["generate_refinements"]["refinements"]
    validated, side_effect = local.simulated_prompts
    assert validated == side_effect == {OWL_4.persona: PlayedPrompts(
        f"You are {OWL_4.persona}.", f"You are {OWL_4.persona}. {refinement['text']}")}
    (result,) = final["validate"]["results"]
    assert [effect["persona"] for effect in result["side_effects"]] == [OWL_4.persona]
    candidate = f"evolutionRuns/e1/refinements/{refinement['refinement_id']}"
    assert [(p["persona"], p["baseline_patches"], p["patched_patches"], p["calls"]) for p in result["personas"]] == [
        (OWL_4.persona, [], [candidate], 12)]
    ((effect_patched, effect_engine),) = [(e["patched_patches"], e["engine"]) for e in result["side_effects"]]
    assert (effect_patched, effect_engine) == ([candidate], Engine.LOCAL)
    (patch,) = units.tables.patches.values()
    assert final["apply"] == {"patches": [patch.name], "rejected_refinement_ids": [],
                              "awaiting_approval": [patch.name], "engine": Engine.LOCAL,
                              "status": final["apply"]["status"]}
    assert patch.state == PatchState.PROPOSED and patch.origin == PatchOrigin.EVOLUTION_RUN
    assert patch.evolution_run == "evolutionRuns/e1" and patch.validation_score == 9.1
    assert saved[-1] == final  # every stage's end is saved


async def test_a_persona_audited_under_an_archetype_it_no_longer_has_plays_no_call_of_that_archetype(units):
    # The corpus's most audited owl is a lamb now: an owl patch cannot be rendered for it.
    now_a_lamb = replace(OWL_4, persona="personas/o2", archetype="archetypes/lamb")
    local = ScriptedEngine(tuple(owl_refinements()), baseline=summary(2.0, 7.6), patched=summary(9.5, 9.1))

    final, _ = await run(evolution_of(units, local, personas=FakePersonas(OWL_4, now_a_lamb)))

    assert final["validate"]["status"]["state"] == "STAGE_STATE_SUCCEEDED", final["validate"]["status"]
    (result,) = final["validate"]["results"]
    assert [p["persona"] for p in result["personas"]] == [OWL_4.persona]


async def test_with_auto_apply_a_patch_the_model_validated_is_active_at_once(units):
    local = ScriptedEngine(tuple(owl_refinements()), baseline=summary(2.0, 7.6), patched=summary(2.0, 7.6))
    openai = ScriptedEngine(tuple(owl_refinements()), baseline=summary(2.0, 7.6), patched=summary(9.5, 9.1))

    final, _ = await run(evolution_of(units, local, openai), engine=Engine.OPENAI, auto_apply=True)

    assert [(r["engine"], r["passed"]) for r in final["validate"]["results"]] == [(Engine.OPENAI, True)]
    (patch,) = units.tables.patches.values()
    assert patch.state == PatchState.ACTIVE and final["apply"]["awaiting_approval"] == []


async def test_every_stage_says_what_produced_it_and_why_the_local_engine_stood_in(units):
    """One model call allowed: the refinements are the model's, the validation of each is the local stand-in's."""
    local = ScriptedEngine(tuple(owl_refinements()), baseline=summary(2.0, 7.6), patched=summary(9.5, 9.1))
    openai = ScriptedEngine(tuple(owl_refinements()), baseline=summary(2.0, 7.6), patched=summary(9.5, 9.1))

    final, _ = await run(evolution_of(units, local, openai, openai_limits=OpenAILimits(max_calls=1)),
                         engine=Engine.OPENAI)

    assert {stage: final[stage]["engine"] for stage in STAGES} == {
        "analyze_corpus": Engine.LOCAL, "identify_patterns": Engine.LOCAL, "generate_refinements": Engine.OPENAI,
        "validate": Engine.LOCAL, "apply": Engine.LOCAL}
    assert final["generate_refinements"]["fallback_reason"] == ""
    (result,) = final["validate"]["results"]
    assert result["engine"] == Engine.LOCAL
    assert result["fallback_reason"].startswith("budget_exhausted: 192 model calls needed, 0 of the run's 1 left")


async def test_a_failing_openai_engine_hands_each_step_to_the_local_one(units):
    local = ScriptedEngine(tuple(owl_refinements()), baseline=summary(5.0, 8.0), patched=summary(9.0, 7.9))
    openai = ScriptedEngine(failure=EngineFailure("invalid_answer", "reply must be a non-empty string"))

    final, _ = await run(evolution_of(units, local, openai), engine=Engine.OPENAI)

    assert final["generate_refinements"]["engine"] == Engine.LOCAL
    assert final["generate_refinements"]["fallback_reason"] == "invalid_answer: reply must be a non-empty string"
    assert [(r["engine"], r["passed"]) for r in final["validate"]["results"]] == [(Engine.LOCAL, False)]
    assert final["apply"]["patches"] == [] and units.tables.patches == {}



async def test_a_patch_is_seen_and_changed_by_its_own_organization_only(units):
    patches = patches_of(units)
    ours = await patches.create("p1", OWL_LENGTH, "Owls talk too long", request("create-1"))
    with pytest.raises(NotFound) as missing:
        await patches.get(ELSEWHERE.organization, "p2")
    with pytest.raises(NotFound) as hidden:
        await patches.get(ELSEWHERE.organization, "p1")
    assert (str(hidden.value).replace("p1", "p2"), hidden.value.reason) == (str(missing.value), missing.value.reason)
    for change in (patches.approve, patches.reject, patches.deactivate, patches.rollback):
        with pytest.raises(NotFound):
            await change("p1", "", "not theirs", Mutation(ELSEWHERE))
    assert units.tables.patches == {ours.name: ours}

    # The same id and request id in the other organization: another patch, its active set apart.
    theirs = await patches.create("p1", OWL_LENGTH, "Owls talk too long", Mutation(ELSEWHERE, "create-1",
                                                                                    "the same request"))
    approved = await patches.approve("p1", theirs.etag, "", Mutation(ELSEWHERE))
    assert theirs.name == ours.name and units.tables.patches == {ours.name: ours}
    assert units.of(ELSEWHERE.organization).revisions[-1] == (ours.name, PatchAction.APPROVE, "admin@globex", "")
    theirs_active = await patches.active_set(ELSEWHERE.organization, "archetypes/owl", [])
    ours_active = await patches.active_set(ORGANIZATION, "archetypes/owl", [])
    assert (theirs_active.patches, ours_active.patches) == ([approved], [])


async def test_a_caller_of_no_organization_creates_nothing_and_sees_nothing(units):
    document = stored(owl_22()[0])
    await Corpus(units, TOKENS).record_audit(ORGANIZATION, "o1", document)
    with pytest.raises(FailedPrecondition) as audit_refused:
        await Corpus(units, TOKENS).record_audit(NOBODY.organization, "o2", document)
    with pytest.raises(FailedPrecondition) as patch_refused:
        await patches_of(units).create("p1", OWL_LENGTH, "Owls talk too long", Mutation(NOBODY))
    assert audit_refused.value.reason == patch_refused.value.reason == "ORGANIZATION_REQUIRED"
    with pytest.raises(NotFound):
        await Corpus(units, TOKENS).get_audit(NOBODY.organization, "o1")
    assert (await Corpus(units, TOKENS).recent_audits(NOBODY.organization, None, 10)) == []
    assert units.of(NOBODY.organization) == LearningTables()


async def test_an_evolution_run_works_with_the_corpus_patches_and_personas_of_its_organization(units):
    local = ScriptedEngine(tuple(owl_refinements()), baseline=summary(2.0, 7.6), patched=summary(9.5, 9.1))
    personas = FakePersonas(OWL_4)
    evolution = evolution_of(units, local, personas=personas)

    elsewhere, _ = await run(evolution, ELSEWHERE.organization, auto_apply=True)
    assert elsewhere["analyze_corpus"]["audit_count"] == 0 and personas.read_for == set()
    final, _ = await run(evolution, auto_apply=True)
    assert final["analyze_corpus"]["audit_count"] == len(owl_22()) and personas.read_for == {ORGANIZATION}
    (patch,) = units.tables.patches.values()
    assert final["apply"]["patches"] == [patch.name]
    assert units.of(ELSEWHERE.organization).patches == {}


# A difficulty-1 owl of the catalogue: friendly and orderly, 15-35 words per turn is its own target.
AARON = SimulatedPersona(
    persona="personas/aaron-kim", display_name="Aaron Kim", archetype="archetypes/owl", difficulty=1,
    blueprint="BLUEPRINT_SALES", personality_traits=("methodical", "polite", "thorough"),
    communication_style="Friendly and orderly; works through his questionnaire one item at a time, thanks you for "
                        "clear answers, and explains why he is asking.",
    objection_patterns=("How will you measure that?",))


class ArchetypeWideRanges(LocalLearningEngine):
    """The local engine, but its length ranges are told to every persona of the archetype, as a model may propose."""

    async def refinements(self, findings, active, limit, briefs) -> Proposals:
        proposals = await super().refinements(findings, active, limit, briefs)
        return Proposals(tuple(replace(r, operation=PatchOperation.CHANGE_LENGTH_RANGE, part=None, edit=None,
                                       scope=None) for r in proposals.refinements))


async def evolve_the_rambler(units: FakeUnitsOfWork, engine: LocalLearningEngine) -> dict:
    for audit in rambler_calls():
        units.tables.audits[audit.name.rsplit("/", 1)[1]] = stored(audit)
    evolution = Evolution(units, Corpus(units, TOKENS), FakePersonas(RAMBLER, AARON), engine)
    final, _ = await run(evolution)
    return final


async def test_a_patch_that_fixes_one_persona_but_breaks_another_it_reaches_is_refused_naming_it(units):
    final = await evolve_the_rambler(units, ArchetypeWideRanges())
    (result,) = final["validate"]["results"]
    effects = {effect["persona"]: effect for effect in result["side_effects"]}
    # The rambler's brevity rose, but the difficulty-1 owl now answers far under its own 15-35 words.
    assert not result["passed"] and "brevity went from" in result["explanation"]
    assert "words_per_turn" in effects[AARON.persona]["regressed"] and not effects[RAMBLER.persona]["regressed"]
    assert "personas/aaron-kim (difficulty 1): " in result["explanation"], result["explanation"]
    assert "words per turn" in result["explanation"] and "(its target 15-35)" in result["explanation"]
    assert effects[AARON.persona]["patched"]["avg_words_per_turn"] < 15 <= effects[AARON.persona]["baseline"][
        "avg_words_per_turn"]
    assert final["apply"]["rejected_refinement_ids"] == ["r1"] and not units.tables.patches


async def test_the_local_engine_scopes_the_range_to_the_flawed_difficulty_and_it_passes(units):
    final = await evolve_the_rambler(units, LocalLearningEngine())
    (refinement,) = final["generate_refinements"]["refinements"]
    assert refinement["scope"] == {"persona": "", "min_difficulty": 5, "max_difficulty": 5}
    (result,) = final["validate"]["results"]
    assert result["passed"], result["explanation"]
    assert [(e["persona"], e["regressed"]) for e in result["side_effects"]] == [(RAMBLER.persona, [])]
