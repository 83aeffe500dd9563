"""The learning service's openai engine without a network: every field of a refinements answer is checked, a
persona reply is checked, a simulated call plays the rendered prompt with the call's seed against the local candidate,
and a run's allowance of model calls and time is enforced."""

from __future__ import annotations

import asyncio
import json
import string
from dataclasses import replace

import pytest

from calls.persona_audit import WordRange
from calls.turns import Role
from learning_svc.adapters.openai_engine import (
    MAX_RENDERED_PROMPT_CHARS,
    PROMPTS,
    REFINEMENTS_PROMPT,
    OpenAILearningEngine,
    prompt_text,
    refinements_of,
    refinements_request,
    reply_of,
)
from learning_svc.domain.evolution import (
    EvidenceQuote,
    PersonaBrief,
    Proposals,
    superseded_length_range,
)
from learning_svc.domain.patches import (
    PartEdit,
    PatchChange,
    PatchOperation,
    PatchScope,
    PatchState,
    PatchTarget,
    PromptPart,
)
from learning_svc.domain.simulation import SimulatedPersona, simulate_call
from learning_svc.service_layer.evolution import OpenAIAllowance, OpenAILimits
from svckit.openai_json import EngineFailure, parse_json_object
from tests.unit.test_learning_evolution import LAMB, findings_for, owl_22, patch

FINDINGS = findings_for([*owl_22(), *LAMB])  # f1: lamb says 'I appreciate that'; f2: owl verbosity
LENGTH = {"archetype": "archetypes/owl", "target": "PATCH_TARGET_VOICE_PROMPT",
          "operation": "PATCH_OPERATION_CHANGE_LENGTH_RANGE", "text": "Keep every answer to 5-12 words.",
          "phrase": "", "words_per_turn": {"min_words": 5, "max_words": 12}, "finding_ids": ["f2"],
          "rationale": "Owls talk too long."}
BAN = {"archetype": "archetypes/lamb", "target": "voice_prompt", "operation": "ban_phrase",
       "text": "Never say 'I appreciate that' - too warm for someone who didn't ask for this call.",
       "phrase": "I appreciate that", "words_per_turn": None, "finding_ids": ["f1"], "rationale": "A habit."}


def answer(*items: dict) -> dict:
    return {"refinements": list(items)}


def test_a_good_answer_becomes_numbered_refinements():
    old_range = patch("old-range", "archetypes/owl", PatchOperation.CHANGE_LENGTH_RANGE, "Keep answers to 10-20 words.",
                      words_per_turn=WordRange(10, 20))
    length, ban = refinements_of(answer(LENGTH, BAN), FINDINGS, [old_range], max_refinements=5).refinements
    assert (length.refinement_id, ban.refinement_id) == ("r1", "r2")
    assert length.words_per_turn == WordRange(5, 12) and length.supersedes == "patches/old-range"
    assert length.operation == PatchOperation.CHANGE_LENGTH_RANGE and length.target == PatchTarget.VOICE_PROMPT
    # Short names are accepted; a ban supersedes nothing.
    assert ban.operation == PatchOperation.BAN_PHRASE and ban.phrase == "I appreciate that" and ban.supersedes == ""
    assert ban.finding_ids == ("f1",) and ban.rationale == "A habit."


def test_supersedes_is_the_last_active_length_range_of_the_archetype_and_target():
    actives = [patch(f"range-{i}", "archetypes/owl", PatchOperation.CHANGE_LENGTH_RANGE, f"Keep to {i}-20 words.",
                     words_per_turn=WordRange(i, 20), hours=i) for i in (3, 4)]
    actives.append(replace(actives[0], name="patches/other-target", target=PatchTarget.SYSTEM_PROMPT))
    actives.append(replace(actives[0], name="patches/gone", state=PatchState.DEACTIVATED))
    (model,) = refinements_of(answer(LENGTH), FINDINGS, actives, 5).refinements
    assert model.supersedes == superseded_length_range(actives, "archetypes/owl", PatchTarget.VOICE_PROMPT) \
        == "patches/range-4"


def test_what_an_active_patch_already_does_is_dropped_and_repeats_are_merged():
    same = patch("ban", "archetypes/lamb", PatchOperation.BAN_PHRASE, "Never say it.", phrase="i appreciate THAT")
    (only,) = refinements_of(answer(BAN, LENGTH), FINDINGS, [same], 5).refinements
    assert only.refinement_id == "r1" and only.operation == PatchOperation.CHANGE_LENGTH_RANGE
    (merged,) = refinements_of(answer(BAN, {**BAN, "rationale": "Again."}), FINDINGS, [], 5).refinements
    assert merged.finding_ids == ("f1",) and merged.rationale == "A habit."
    assert refinements_of(answer(), FINDINGS, [], 5) == Proposals(())


@pytest.mark.parametrize(("change", "where"), [
    ({"target": "PATCH_TARGET_EMAIL"}, "target"),
    ({"operation": "REWRITE_PROMPT"}, "operation"),
    ({"operation": None}, "operation"),
    ({"text": ""}, "text"),
    ({"text": "x" * 1001}, "text"),
    ({"text": 42}, "text"),
    ({"words_per_turn": None}, "words_per_turn"),
    ({"words_per_turn": {"min_words": 0, "max_words": 12}}, "words_per_turn"),
    ({"words_per_turn": {"min_words": 13, "max_words": 12}}, "words_per_turn"),
    ({"words_per_turn": {"min_words": 5, "max_words": 201}}, "words_per_turn"),
    ({"words_per_turn": {"min_words": 5.5, "max_words": 12}}, "min_words"),
    ({"words_per_turn": {"min_words": True, "max_words": 12}}, "min_words"),
    ({"phrase": "wow"}, "phrase"),
    ({"finding_ids": []}, "finding_ids"),
    ({"finding_ids": ["f9"]}, "finding_ids"),
    ({"finding_ids": "f2"}, "finding_ids"),
    ({"finding_ids": ["f1", "f2"]}, "finding_ids"),  # f1 is the lamb's
    ({"archetype": "archetypes/fox"}, "archetype"),
    ({"archetype": "archetypes/lamb"}, "finding_ids"),
    ({"rationale": " "}, "rationale"),
])
def test_a_refinement_with_a_wrong_field_is_dropped_naming_it_and_the_others_kept(change, where):
    proposals = refinements_of(answer({**LENGTH, **change}, BAN), FINDINGS, [], 5)
    assert [r.operation for r in proposals.refinements] == [PatchOperation.BAN_PHRASE]
    (dropped,) = proposals.dropped
    assert dropped.field.startswith("refinements[0]") and where in f"{dropped.field} {dropped.description}"
    assert dropped.reason in ("INVALID_PATCH", "UNKNOWN_FINDING") and len(dropped.proposed) <= 1000
    assert dropped.proposed.startswith('{"archetype": ')  # what the model proposed, as JSON


@pytest.mark.parametrize(("change", "where"), [
    ({"phrase": ""}, "phrase"),
    ({"phrase": "x" * 201}, "phrase"),
    ({"words_per_turn": {"min_words": 5, "max_words": 12}}, "words_per_turn"),
])
def test_a_ban_needs_its_phrase_and_no_range(change, where):
    (dropped,) = refinements_of(answer({**BAN, **change}), FINDINGS, [], 5).dropped
    assert dropped.reason == "INVALID_PATCH" and dropped.field == f"refinements[0].{where}"


# A structured patch, as the model answers one: the contract's fields, short enum names accepted.
STYLE_EDIT = {"archetype": "archetypes/owl", "target": "voice_prompt", "operation": "PATCH_OPERATION_EDIT_PART",
              "part": "communication_style", "edit": "PART_EDIT_REPLACE", "find_text": "long stories",
              "text": "one sentence, then silence", "scope": {"min_difficulty": 4, "max_difficulty": 5},
              "finding_ids": ["f2"], "rationale": "Her style invites rambling."}


def test_a_structured_patch_is_read_as_the_patch_contract_reads_it():
    (edit,) = refinements_of(answer(STYLE_EDIT), FINDINGS, [], 5).refinements
    assert edit.change == PatchChange("archetypes/owl", PatchTarget.VOICE_PROMPT, PatchOperation.EDIT_PART,
                                      "one sentence, then silence", part=PromptPart.COMMUNICATION_STYLE,
                                      edit=PartEdit.REPLACE, find_text="long stories", scope=PatchScope("", 4, 5))


@pytest.mark.parametrize(("change", "field"), [
    ({"part": "PROMPT_PART_MOOD"}, "part"),
    ({"edit": "rewrite"}, "edit"),
    ({"edit": "PART_EDIT_REMOVE"}, "text"),  # a removal names what goes in find_text, and adds nothing
    ({"find_text": ""}, "find_text"),
    ({"part": "PROMPT_PART_BANNED_PHRASES"}, "edit"),  # a banned phrase is added or lifted, never replaced
    ({"part": "PROMPT_PART_LENGTH_RANGE", "find_text": ""}, "words_per_turn"),
    ({"scope": {"min_difficulty": 5, "max_difficulty": 4}}, "scope.max_difficulty"),
    ({"scope": {"min_difficulty": 0, "max_difficulty": 9}}, "scope.min_difficulty"),
    ({"scope": {"persona": "personas/ruth", "min_difficulty": 4, "max_difficulty": 5}}, "scope.min_difficulty"),
    ({"scope": {"persona": "ruth"}}, "scope.persona"),
    ({"scope": {"colour": "red"}}, "scope"),
    ({"scope": {"min_difficulty": "high"}}, "scope.min_difficulty"),
])
def test_a_malformed_structured_patch_is_dropped_naming_its_field(change, field):
    proposals = refinements_of(answer({**STYLE_EDIT, **change}, BAN), FINDINGS, [], 5)
    assert [r.operation for r in proposals.refinements] == [PatchOperation.BAN_PHRASE]
    (dropped,) = proposals.dropped
    assert (dropped.reason, dropped.field) == ("INVALID_PATCH", f"refinements[0].{field}"), dropped.description


def test_the_refinements_prompt_is_a_versioned_file_taking_exactly_what_the_engine_fills_in():
    assert REFINEMENTS_PROMPT.rsplit(".", 2)[-2].startswith("v") and (PROMPTS / REFINEMENTS_PROMPT).is_file()
    fields = {field for _, field, _, _ in string.Formatter().parse(prompt_text(REFINEMENTS_PROMPT)) if field}
    assert fields == {"limit", "targets", "operations", "parts", "edits", "text_chars", "words"}


def test_the_refinements_request_shows_the_flagged_personas_prompt_and_the_candidates_turns():
    brief = PersonaBrief("personas/olga", "archetypes/owl", 4, "You are Olga. " + "x" * 9000, "Owls weigh evidence.",
                         "Tells long stories.", ("sceptical",), ("Prove it.",))
    quote = EvidenceQuote("corpusAudits/a1", "Well, let me tell you about our setup...", 4,
                          "How do you report today?", "personas/olga")
    findings = [replace(FINDINGS[1], evidence_quotes=(quote,))]
    system, user = refinements_request(findings, [], 3, [brief])
    sent = json.loads(user)
    (persona,) = sent["personas"]
    assert persona["rendered_prompt"] == brief.rendered_prompt[:MAX_RENDERED_PROMPT_CHARS]
    assert (persona["communication_style"], persona["archetype_guidance"]) == ("Tells long stories.",
                                                                               "Owls weigh evidence.")
    (exchange,) = sent["findings"][0]["evidence_quotes"]
    assert (exchange["candidate_text"], exchange["text"]) == ("How do you report today?", quote.text)
    assert "at most 3" in system and "PROMPT_PART_COMMUNICATION_STYLE" in system


@pytest.mark.parametrize("data", [{}, {"refinements": {"r1": LENGTH}}])
def test_a_wrong_shape_is_an_invalid_answer(data):
    with pytest.raises(EngineFailure) as caught:
        refinements_of(data, FINDINGS, [], 5)
    assert caught.value.reason == "invalid_answer"


def test_more_refinements_than_asked_for_is_an_invalid_answer():
    with pytest.raises(EngineFailure, match="at most 1"):
        refinements_of(answer(LENGTH, BAN), FINDINGS, [], max_refinements=1)


def test_the_answer_must_be_a_json_object():
    assert parse_json_object('{"reply": "Fine."}') == {"reply": "Fine."}
    with pytest.raises(EngineFailure) as caught:
        parse_json_object('{"reply": "Fi')
    assert caught.value.reason == "malformed_json"
    with pytest.raises(EngineFailure) as caught:
        parse_json_object('["Fine."]')
    assert caught.value.reason == "invalid_answer"


# ---------------------------------------------------------------------------------------------- persona turns

OWL = SimulatedPersona(
    persona="personas/olga", display_name="Olga", archetype="archetypes/owl", difficulty=4,
    personality_traits=("sceptical", "precise"), traits={"agreeableness": 0.2},
    communication_style="Short sentences; asks for numbers.", language_style="LANGUAGE_STYLE_CONCISE",
    emotional_style="EMOTIONAL_STYLE_RESERVED", beliefs=("Data beats anecdotes.",),
    objection_patterns=("Show me the evidence.",), domains=("analytics",),
)


def test_a_reply_is_checked():
    assert reply_of({"reply": "  Show me the numbers.  "}) == "Show me the numbers."
    for bad in ({}, {"reply": ""}, {"reply": "   "}, {"reply": 7}, {"reply": "x" * 1001}):
        with pytest.raises(EngineFailure) as caught:
            reply_of(bad)
        assert caught.value.reason == "invalid_answer"


async def test_a_simulated_call_faces_the_local_candidate(monkeypatch):
    engine = OpenAILearningEngine("http://127.0.0.1:9/v1", "", "fake", 1.0, 0)
    heard = []

    async def persona_turn(system_prompt, seed, transcript_so_far, candidate_line):
        heard.append((len(transcript_so_far), candidate_line, system_prompt, seed))
        return f"Answer {len(heard)}, which is a plain one."

    monkeypatch.setattr(engine, "persona_turn", persona_turn)
    turns = await engine.simulate_call(OWL, "You are Olga. Be brief.", seed=3, exchanges=4)
    await engine.close()
    local = simulate_call(OWL, ["Be brief."], 3, 4)
    assert [t.text for t in turns if t.role is Role.USER] == [t.text for t in local if t.role is Role.USER]
    assert [t.sequence for t in turns] == list(range(1, 9))
    assert [t.text for t in turns if t.role is Role.ASSISTANT] == [f"Answer {i}, which is a plain one."
                                                                   for i in range(1, 5)]
    assert [h[0] for h in heard] == [0, 2, 4, 6]
    assert all(h[2:] == ("You are Olga. Be brief.", 3) for h in heard)  # the rendered prompt and the call's seed


async def test_the_local_candidate_reacts_to_the_models_persona(monkeypatch):
    engine = OpenAILearningEngine("http://127.0.0.1:9/v1", "", "fake", 1.0, 0)
    replies = iter(["Why would I tell you that?", "We have 200k set aside for this, no more.", "Fine, it is a plain "
                    "answer about our process."])

    async def persona_turn(system_prompt, seed, transcript_so_far, candidate_line):
        return next(replies)

    monkeypatch.setattr(engine, "persona_turn", persona_turn)
    turns = await engine.simulate_call(OWL, "You are Olga.", seed=3, exchanges=3)
    await engine.close()
    first, again, follow_up = (t.text for t in turns if t.role is Role.USER)
    assert again == "Coming back to what I asked: " + first.removeprefix("Thanks for making the time today. ")
    assert follow_up.startswith("You mentioned a figure")


# ---------------------------------------------------------------------------------------------- a run's allowance


async def test_a_run_may_not_spend_more_model_calls_than_allowed():
    allowance = OpenAIAllowance(object(), OpenAILimits(max_calls=10, seconds=60))

    async def work(_engine):
        return "done"

    assert await allowance.use("validate", 6, work) == "done"
    with pytest.raises(EngineFailure) as caught:
        await allowance.use("generate_refinements", 5, work)
    assert caught.value.reason == "budget_exhausted" and "4 of the run's 10 left" in caught.value.detail
    assert await allowance.use("other", 4, work) == "done"


async def test_a_run_may_not_wait_longer_than_allowed_and_a_failed_step_stays_failed():
    allowance = OpenAIAllowance(object(), OpenAILimits(max_calls=100, seconds=0.05))
    calls = []

    async def slow(_engine):
        calls.append(1)
        await asyncio.sleep(5)

    with pytest.raises(EngineFailure) as caught:
        await allowance.use("validate", 1, slow)
    assert caught.value.reason == "budget_exhausted"
    with pytest.raises(EngineFailure) as again:
        await allowance.use("validate", 1, slow)
    assert again.value is caught.value and len(calls) == 1


async def test_without_an_engine_every_step_falls_back():
    allowance = OpenAIAllowance(None, OpenAILimits())

    async def work(_engine):
        raise AssertionError("not called")

    with pytest.raises(EngineFailure) as caught:
        await allowance.use("generate_refinements", 1, work)
    assert caught.value.reason == "not_configured"
