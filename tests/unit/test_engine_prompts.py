"""The model engine's prompts are versioned files: each loads, takes exactly the values the engine fills in, says
the transcript is data, and the live analysis is sent the track's rubric and the whole call so far."""

from __future__ import annotations

import json
import string

import pytest

from analysis_svc.adapters.openai_engine import (
    LIVE_ANALYSIS_PROMPT,
    PERSONA_AUDIT_PROMPT,
    PROMPTS,
    analysis_request,
    answer_of,
    prompt_text,
)
from analysis_svc.domain.conversation import measure
from analysis_svc.domain.model import LiveWindow
from analysis_svc.domain.say_meter import RUBRICS, SALES_MEANINGS, Blueprint
from analysis_svc.domain.tracks import hr
from calls.turns import Role, Turn
from svckit.openai_json import EngineFailure
from tests.probes import metric

PLACEHOLDERS = {
    LIVE_ANALYSIS_PROMPT: {"blueprint", "transcript_is_data", "rubric_kind", "rubric", "factors", "language"},
    PERSONA_AUDIT_PROMPT: {"transcript_is_data", "who", "difficulty", "traits", "objections", "facts", "reasons",
                           "target", "average", "count",
                           "max_quotes", "max_quote_chars", "max_recommendations", "max_recommendation_chars"},
}


def test_every_prompt_file_in_use_is_versioned_and_present():
    assert {path.name for path in PROMPTS.glob("*.txt")} >= set(PLACEHOLDERS)
    assert all(name.rsplit(".", 2)[-2].startswith("v") for name in PLACEHOLDERS)


@pytest.mark.parametrize("name", sorted(PLACEHOLDERS))
def test_a_prompt_takes_exactly_the_values_the_engine_fills_in(name):
    fields = {field for _, field, _, _ in string.Formatter().parse(prompt_text(name)) if field}
    assert fields == PLACEHOLDERS[name]


CALL = [Turn(n, Role.USER if n % 2 else Role.ASSISTANT, text) for n, text in enumerate([
    "What made you look at scheduling tools this spring?", "Our nurses lose an hour a day swapping shifts.",
    "What has that cost you in overtime?", "About twelve thousand last quarter. Honestly I'm not sure we need it.",
    "Fair enough. What would need to change for it to be worth a look?", "Overtime halved, and my director agrees.",
], start=1)]


def test_the_live_analysis_gets_the_tracks_rubric_and_what_fell_out_of_the_window():
    window = LiveWindow("call-1", "sales", tuple(CALL[-2:]), language="en")
    system, user = analysis_request(window, measure(CALL))
    weights = RUBRICS[Blueprint.SALES]
    assert f'"objection_handling" ({weights["objection_handling"]}): {SALES_MEANINGS["objection_handling"]}' in system
    sent = json.loads(user)
    assert [turn["sequence"] for turn in sent["transcript"]] == [5, 6]
    so_far = sent["call_so_far"]
    assert so_far["messages_before_transcript"] == 4
    assert so_far["hesitations"] == 1 and so_far["hesitations_handled_well"] == 1.0
    assert "pain" in so_far["topics_covered"] and so_far["language"] == "en"


def test_the_live_analysis_is_told_what_the_call_has_had_suggested():
    window = LiveWindow("call-1", "sales", tuple(CALL[-2:]), made=frozenset({"Uncover budget", "Budget Freeze"}))
    system, user = analysis_request(window, measure(CALL))
    assert json.loads(user)["already_suggested"] == ["Budget Freeze", "Uncover budget"]
    assert '"cites"' in system and "already_suggested" in system


METER = {"score": 70, "reasoning": "Fair.", "factors": dict.fromkeys(
    ("rapport", "discovery", "objection_handling", "value_articulation", "closing_momentum"), 70)}


def test_a_model_suggestion_is_kept_with_the_shown_turns_it_cites_and_left_out_citing_none():
    def suggestion(label: str, cites: object) -> dict[str, object]:
        return {"type": "followup_question", "text": "Ask what overtime cost.", "priority": "medium",
                "label": label, "cites": cites}

    uncited = metric("sparring_analysis_uncited_suggestions_total")
    _, suggestions = answer_of({"say_meter": METER, "suggestions": [
        suggestion("kept", [6, 5, 6, 99]), suggestion("none", []), suggestion("missing", None),
        suggestion("outside", [1]), suggestion("not numbers", ["5", True]),
    ]}, RUBRICS[Blueprint.SALES], {5, 6})
    assert [(s.label, s.cites) for s in suggestions] == [("kept", (5, 6))]
    assert metric("sparring_analysis_uncited_suggestions_total") == uncited + 4


def test_a_sales_call_is_asked_for_the_sales_factors():
    system, _ = analysis_request(LiveWindow("call-1", "sales", tuple(CALL)), measure(CALL))
    assert "Judge the candidate on the sales factors," in system
    assert all(f'"{name}" ({weight})' in system for name, weight in RUBRICS[Blueprint.SALES].items())


def test_an_hr_call_is_asked_for_the_hr_factors_and_nothing_else():
    system, _ = analysis_request(LiveWindow("call-1", "hr", tuple(CALL)), measure(CALL))
    factors = ", ".join(f'"{name}": 0-100' for name in hr.RUBRIC.names)
    assert f'"factors": {{{factors}}}' in system and "own factors" in system
    assert not any(f'"{name}"' in system for name in SALES_MEANINGS)


@pytest.mark.parametrize("factors", [
    {name: 70 for name in hr.RUBRIC.names if name != "legality"},
    {**dict.fromkeys(hr.RUBRIC.names, 70), "rapport": 70},
], ids=["missing", "unknown"])
def test_an_answer_off_the_tracks_factors_is_refused_naming_them(factors):
    with pytest.raises(EngineFailure, match="legality" if len(factors) < 5 else "rapport"):
        answer_of({"say_meter": {**METER, "factors": factors}}, hr.RUBRIC.weights, {5, 6})


def test_a_tracks_answer_is_read_on_its_factors_and_weights():
    meter, _ = answer_of({"say_meter": {**METER, "factors": dict.fromkeys(hr.RUBRIC.names, 64)}},
                         hr.RUBRIC.weights, {5, 6})
    assert meter.factors == dict.fromkeys(hr.RUBRIC.names, 64) and meter.weights == hr.RUBRIC.weights


@pytest.mark.parametrize(("language", "written_in"), [
    ("es", "Spanish"), ("en", "English"), ("", "the language the call is held in")])
def test_the_live_analysis_is_asked_to_write_in_the_calls_language(language, written_in):
    system, _ = analysis_request(LiveWindow("call-1", "sales", tuple(CALL), language=language), measure(CALL))
    assert f"suggestions' texts and labels in {written_in}." in " ".join(system.split())
