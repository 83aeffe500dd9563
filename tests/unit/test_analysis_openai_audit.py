"""The analysis service's openai auditor without a network: a good answer becomes a persona audit with measured
facts, and every field that is out of range, unknown or not from this call's persona is refused."""

from __future__ import annotations

import copy
import json

import pytest

from analysis_svc.adapters.openai_engine import audit_of, audit_prompt, measured, parse_audit
from calls.persona_audit import FlagReason, PersonaProfile, WordRange, audit_persona
from calls.turns import Role, Turn
from svckit.openai_json import EngineFailure

CALL = (
    Turn(1, Role.USER, "Hi, thanks for joining. What made you take this call?"),
    Turn(2, Role.ASSISTANT, "Oh I appreciate that, great question! I love that you asked, honestly we are so "
                            "excited to talk to vendors like you."),
    Turn(3, Role.USER, "What does your current process look like?"),
    Turn(4, Role.ASSISTANT, "We do everything by hand today."),
)
SARAH = PersonaProfile(archetype="owl", difficulty=4, personality_traits=("sceptical", "blunt"),
                       traits={"agreeableness": 0.2})
GOOD = {
    "scores": {"brevity": 4, "authenticity": 6, "consistency": 3, "enthusiasm_leak": 2, "pacing": 7},
    "flagged_quotes": [
        {"sequence": 2, "text": "I appreciate that, great question!", "reason": "enthusiasm_leak",
         "explanation": "Far too warm for a sceptical VP who did not ask for the call."},
        {"sequence": 2, "text": "oh i APPRECIATE that... so excited to talk", "reason": "FLAG_REASON_INCONSISTENT",
         "explanation": "Eager where the traits call for blunt."},
        {"sequence": 4, "text": "\u201cWe do everything by hand today.\u201d", "reason": "Other",
         "explanation": "Gives away the process unasked."},
    ],
    "recommendations": ["Never say 'I appreciate that'.", "Keep answers to 8-16 words."],
}


def test_a_good_answer_is_the_models_judgement_with_measured_facts():
    audit = audit_of(GOOD, CALL, SARAH)
    local = audit_persona(CALL, SARAH)
    assert audit.scores.as_tuple() == (4, 6, 3, 2, 7)
    assert audit.overall_score == 4.4  # the mean of the five
    # Facts are measured as the local auditor measures them, whatever the model says.
    assert (audit.avg_words_per_turn, audit.persona_turn_count, audit.target_words_per_turn) == (
        local.avg_words_per_turn, local.persona_turn_count, local.target_words_per_turn)
    assert audit.target_words_per_turn == WordRange(8, 16)
    assert (audit.archetype, audit.difficulty) == ("owl", 4)
    assert [(q.sequence, q.reason) for q in audit.flagged_quotes] == [
        (2, FlagReason.ENTHUSIASM_LEAK), (2, FlagReason.INCONSISTENT), (4, FlagReason.OTHER)]
    assert audit.flagged_quotes[0].text == "I appreciate that, great question!"
    assert audit.recommendations == ("Never say 'I appreciate that'.", "Keep answers to 8-16 words.")


def test_nothing_to_flag_is_an_empty_list_and_repeated_recommendations_are_kept_once():
    answer = {**GOOD, "flagged_quotes": [], "recommendations": ["Stay guarded.", "Stay guarded."]}
    audit = parse_audit(json.dumps(answer), CALL, SARAH)
    assert audit.flagged_quotes == () and audit.recommendations == ("Stay guarded.",)


def _with(path: tuple, value) -> dict:
    answer = copy.deepcopy(GOOD)
    target = answer
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return answer


_DELETE = object()
QUOTE = GOOD["flagged_quotes"][0]


@pytest.mark.parametrize(("path", "value", "complaint"), [
    (("scores",), [4, 6, 3, 2, 7], "scores must be an object"),
    (("scores", "brevity"), 11, "scores.brevity must be an integer from 1 to 10"),
    (("scores", "pacing"), 0, "scores.pacing"),
    (("scores", "consistency"), 7.5, "scores.consistency"),
    (("scores", "authenticity"), "7", "scores.authenticity"),
    (("scores", "authenticity"), True, "scores.authenticity"),
    (("scores", "enthusiasm_leak"), _DELETE, "scores.enthusiasm_leak"),
    (("flagged_quotes",), _DELETE, "flagged_quotes must be a list"),
    (("flagged_quotes",), [QUOTE] * 21, "at most 20 items"),
    (("flagged_quotes", 0), "I appreciate that", "flagged_quotes[0] must be an object"),
    (("flagged_quotes", 0, "sequence"), 1, "persona message of this call"),  # the candidate's turn
    (("flagged_quotes", 0, "sequence"), 9, "persona message of this call"),  # no such message
    (("flagged_quotes", 0, "sequence"), "2", "persona message of this call"),
    (("flagged_quotes", 0, "sequence"), _DELETE, "persona message of this call"),
    (("flagged_quotes", 1, "reason"), "too_warm", "flagged_quotes[1].reason must be one of"),
    (("flagged_quotes", 1, "reason"), None, "flagged_quotes[1].reason"),
    (("flagged_quotes", 0, "text"), "We do everything by hand today.", "not what the persona said in message 2"),
    (("flagged_quotes", 0, "text"), "I appreciate your time", "not what the persona said"),
    (("flagged_quotes", 0, "text"), "...!", "not what the persona said"),
    (("flagged_quotes", 0, "text"), "  ", "flagged_quotes[0].text must be a non-empty string"),
    (("flagged_quotes", 0, "text"), "I appreciate that " * 30, "at most 500 characters"),
    (("flagged_quotes", 0, "explanation"), "x" * 501, "flagged_quotes[0].explanation must be at most 500"),
    (("flagged_quotes", 0, "explanation"), _DELETE, "flagged_quotes[0].explanation"),
    (("recommendations",), _DELETE, "recommendations must be a list"),
    (("recommendations",), "Stay guarded.", "recommendations must be a list"),
    (("recommendations",), [f"Fix {n}." for n in range(11)], "at most 10 items"),
    (("recommendations", 0), "x" * 1001, "recommendations[0] must be at most 1000 characters"),
    (("recommendations", 1), {"text": "Stay guarded."}, "recommendations[1] must be a non-empty string"),
])
def test_an_answer_out_of_bounds_is_refused(path, value, complaint):
    with pytest.raises(EngineFailure) as raised:
        audit_of(_with(path, value), CALL, SARAH)
    assert raised.value.reason == "invalid_answer"
    assert complaint in raised.value.detail


@pytest.mark.parametrize(("content", "reason"), [
    ('{"scores": {"brevity": ', "malformed_json"),
    ("[1, 2, 3]", "invalid_answer"),
])
def test_an_answer_that_is_not_a_json_object_is_refused(content, reason):
    with pytest.raises(EngineFailure) as raised:
        parse_audit(content, CALL, SARAH)
    assert raised.value.reason == reason


def test_the_prompt_judges_the_persona_against_its_target_and_traits():
    prompt = audit_prompt(SARAH, measured(CALL))
    assert "difficulty 4" in prompt and "8-16" in prompt and "archetype owl" in prompt
    assert "sceptical, blunt, agreeableness 0.20 of 1" in prompt
    assert "measured: 14.0 words per turn on average over 2 turns" in prompt
    for reason in FlagReason:
        assert f'"{reason.value}"' in prompt
    assert "no archetype" in audit_prompt(PersonaProfile(archetype="", difficulty=1), (3.0, 1))
    assert "traits: none given" in audit_prompt(PersonaProfile(archetype="", difficulty=1), (3.0, 1))


def test_a_persona_that_never_spoke_has_nothing_to_audit():
    with pytest.raises(ValueError, match="no persona turns"):
        measured(CALL[::2])
