"""The `openai` engine: any OpenAI-compatible endpoint judges the window, or an ended call's persona (the post-call
audit); its JSON is checked before use.

The call itself (timeouts, bounded retries, JSON output) is the shared ``svckit.openai_json`` client's; an
answer that cannot be used (unreachable, refused, slow, malformed, out of range) raises ``EngineFailure`` and the
caller falls back to `local`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from analysis_svc.domain.coaching import MAX_POINTS
from analysis_svc.domain.conversation import ConversationMetrics
from analysis_svc.domain.language import NAMES
from analysis_svc.domain.model import Judgement, LiveWindow
from analysis_svc.domain.say_meter import SayMeter, band_for, rubric_of
from analysis_svc.domain.suggestions import Priority, Suggestion, SuggestionType
from calls.persona_audit import (
    MAX_FLAGGED_QUOTES,
    MAX_QUOTE_CHARS,
    MAX_RECOMMENDATIONS,
    AuditScores,
    FlaggedQuote,
    FlagReason,
    PersonaAudit,
    PersonaProfile,
    candidate_before,
    target_words_per_turn,
)
from calls.scenario_facts import ScenarioFacts
from calls.turns import TRANSCRIPT_IS_DATA, Role, Turn, normalise, transcript_json, words
from svckit.openai_json import INVALID_ANSWER, EngineFailure, OpenAIJson, parse_json_object

UNCITED_SUGGESTIONS = Counter("sparring_analysis_uncited_suggestions_total",
                              "Suggestions of a model engine left out because they cite no turn of the window shown.")

PROMPTS = Path(__file__).resolve().parent / "prompts"
# The prompts are files named with their version: a change to a prompt is a new version, kept beside the old one
# until nothing uses it, and each is tested (tests/unit/test_engine_prompts.py).
LIVE_ANALYSIS_PROMPT = "live_analysis.v4.txt"
PERSONA_AUDIT_PROMPT = "persona_audit.v2.txt"


def prompt_text(name: str) -> str:
    return (PROMPTS / name).read_text().rstrip("\n")


SYSTEM_PROMPT = prompt_text(LIVE_ANALYSIS_PROMPT)

SPEAKERS = {Role.USER: "candidate", Role.ASSISTANT: "persona"}
MAX_SUGGESTIONS = 5
MAX_TEXT = 500
# The labels already suggested that the model is told of, so a long call's list does not grow the request unbounded.
MAX_ALREADY_SUGGESTED = 100

# The audit judges the persona's side only, against its difficulty's target length and its traits.
AUDIT_PROMPT = prompt_text(PERSONA_AUDIT_PROMPT)

# What each flag reason means, for the model judge: the flaws the local auditor flags, defined as a coach labels them
# (the labelling rules of tests/data/persona_audit_set, with how they were read where a turn could go either way).
REASONS = {
    FlagReason.TOO_LONG: "far more words than the target",
    FlagReason.ENTHUSIASM_LEAK: "warmth or eagerness the persona should not show",
    FlagReason.OUT_OF_CHARACTER: "speaks as an assistant, a simulator or a coach rather than the persona, in any "
                                 "words: mentions the practice, the role play, the exercise or its instructions, "
                                 "offers help or to make material, or coaches the candidate (a tip, feedback on "
                                 "their technique for later calls); an interviewer persona judging the candidate's "
                                 "answer within the call is in character",
    FlagReason.INCONSISTENT: "a tone or position its traits or earlier words rule out",
    FlagReason.PACING: "gives in too early, or monologues",
    FlagReason.EARLY_DISCLOSURE: "gives a scenario fact (its budget or a money figure for it, who signs or decides, "
                                 "its decision deadline) that the candidate has not asked about yet; at difficulty "
                                 "4-5 also when the candidate asked about it before asking anything about the "
                                 "persona's problem; never at difficulty 1; what its company thinks, a cost from "
                                 "the past or a product deadline is not such a fact",
    FlagReason.NO_RESISTANCE: "at difficulty 3-5, accepts the candidate's claim or pitch with no doubt, question "
                              "or objection, in a call where it has raised none of its objection patterns before; "
                              "agreement at difficulty 1-2, or after its objections were raised and answered, is fine",
    FlagReason.UNRESPONSIVE: "the candidate asked a question and the turn neither answers it nor pushes back on it: "
                             "off topic, small talk or an anecdote, about something else entirely, or a line said "
                             "again that answers nothing asked; a refusal, not knowing, or a question back that "
                             "challenges the candidate is pushback, not this",
    FlagReason.REPETITION: "says again, word for word or nearly, what the persona already said in an earlier turn",
    FlagReason.CONTRADICTS_SCENARIO: "states a budget, deadline, company size or industry that the scenario's facts "
                                     "rule out",
    FlagReason.HOSTILITY: "insults or demeans the candidate (name-calling, contempt for the person, profanity at "
                          "them); bluntness, impatience and refusals are not hostility, whatever its traits",
    FlagReason.MINIMAL_ANSWER: "the candidate asked an open question (why, how, what happened or what is it like, "
                               "tell me, walk me through) and the turn answers in three words or fewer; a question "
                               "for a name, a place, a choice, a yes or no, how many or how long is not open",
    FlagReason.OTHER: "anything else; say what in the explanation",
}
MAX_RECOMMENDATION_CHARS = 1000
_AUDITED = tuple(f.name for f in fields(AuditScores))  # brevity, authenticity, consistency, enthusiasm_leak, pacing
_WORDS = re.compile(r"\w+(?:'\w+)*")
_ELLIPSIS = re.compile(r"\.\.\.|\u2026")


class OpenAIEngine:
    name = "openai"

    def languages_for(self, blueprint: str) -> frozenset[str] | None:
        return None  # a model reads any language its rubric is given in

    def __init__(self, base_url: str, api_key: str, model: str, timeout_seconds: float, max_retries: int) -> None:
        self._client = OpenAIJson(base_url, api_key, model, timeout_seconds, max_retries)
        self.model = model

    async def analyse(self, window: LiveWindow, metrics: ConversationMetrics) -> Judgement:
        """The model's Say Meter, on the factors and weights of the track's rubric as the local one's, and
        suggestions."""
        data = await self._client.complete_json(*analysis_request(window, metrics))
        meter, suggestions = answer_of(data, rubric_of(window.blueprint).weights,
                                       {turn.sequence for turn in window.turns})
        return Judgement(meter, suggestions, self.model)

    async def audit(self, turns: Sequence[Turn], profile: PersonaProfile) -> PersonaAudit:
        """The model's audit of the persona's side of an ended call; ValueError when the persona never spoke."""
        ordered = sorted(turns, key=lambda turn: turn.sequence)
        facts = measured(ordered)
        transcript = transcript_json(
            ordered, SPEAKERS, lambda t: {"words": words(t.text)} if t.role is Role.ASSISTANT else {})
        data = await self._client.complete_json(audit_prompt(profile, facts), transcript)
        return audit_of(data, ordered, profile)

    async def close(self) -> None:
        await self._client.close()


def analysis_request(window: LiveWindow, metrics: ConversationMetrics) -> tuple[str, str]:
    """The system prompt (the track's rubric: each factor, what it means and its weight; the call's language, to
    write in) and the user message: the window's turns as data, with the measures of the whole call so far, so what
    fell out of the window still counts."""
    rubric = rubric_of(window.blueprint)
    kind = "its own factors" if rubric.own else "the sales factors"
    system = SYSTEM_PROMPT.format(
        blueprint=window.blueprint, transcript_is_data=TRANSCRIPT_IS_DATA, rubric_kind=kind,
        rubric="\n".join(f'- "{name}" ({rubric.weights[name]}): {meaning};'
                          for name, meaning in rubric.meanings.items()),
        factors=", ".join(f'"{name}": 0-100' for name in rubric.meanings),
        language=NAMES.get(window.language, "the language the call is held in"))
    return system, transcript_json(window.turns, SPEAKERS, call_so_far=call_so_far(window, metrics),
                                   already_suggested=sorted(window.made)[:MAX_ALREADY_SUGGESTED])


def call_so_far(window: LiveWindow, metrics: ConversationMetrics) -> dict[str, Any]:
    """The whole call's measures a coach would want from the part of the call the model is not shown."""
    return {
        "messages_before_transcript": window.turns[0].sequence - 1 if window.turns else 0,
        "candidate_share_of_words": round(metrics.candidate_talk_ratio, 2),
        "questions_about_the_persona": metrics.buyer_questions,
        "follow_up_questions": metrics.followup_questions,
        "topics_covered": sorted(metrics.topics_covered),
        "hesitations": metrics.hesitations,
        "hesitations_handled_well": round(metrics.hesitation_points / MAX_POINTS, 1),
        "pushes_after_a_no": metrics.pushes + metrics.pushes_after_decline,
        "next_step_agreed": metrics.next_step_committed,
        "language": window.language,
        # A track's own rubric scores the kinds of move said in the whole call ("group:kind", domain.tracks).
        **({"track_moves_so_far": sorted(window.tally.kinds)} if window.tally is not None else {}),
    }


def _score(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise EngineFailure(INVALID_ANSWER, f"{where} must be a number from 0 to 100 (got {value!r})")
    return round(value)


def answer_of(data: dict[str, Any], weights: dict[str, int],
              shown: set[int]) -> tuple[SayMeter, list[Suggestion]]:
    """The engine's JSON object as a Say Meter on the factors ``weights`` names and suggestions, or EngineFailure
    naming what is wrong. A suggestion that cites none of the ``shown`` turns answers nothing in the call: it is left
    out, and counted."""
    meter = data.get("say_meter")
    if not isinstance(meter, dict) or not isinstance(meter.get("factors"), dict):
        raise EngineFailure(INVALID_ANSWER, "say_meter with factors is required")
    unknown = sorted(set(meter["factors"]) - set(weights))
    if unknown:
        raise EngineFailure(INVALID_ANSWER, f"say_meter.factors has {', '.join(map(str, unknown))}, not factors of "
                                            f"this track ({', '.join(weights)})")
    factors = {name: _score(meter["factors"].get(name), f"say_meter.factors.{name}") for name in weights}
    value = _score(meter.get("score"), "say_meter.score")
    reasoning = meter.get("reasoning")
    if not isinstance(reasoning, str) or not reasoning.strip():
        raise EngineFailure(INVALID_ANSWER, "say_meter.reasoning must be a sentence")
    listed = data.get("suggestions") or []
    if not isinstance(listed, list):
        raise EngineFailure(INVALID_ANSWER, "suggestions must be a list")
    suggestions = []
    for index, item in enumerate(listed[:MAX_SUGGESTIONS]):
        try:
            kind, priority = SuggestionType(item["type"]), Priority(item["priority"])
            text, label = str(item["text"]).strip(), str(item.get("label") or "")[:100]
            cited = item.get("cites") or []
        except (KeyError, TypeError, ValueError) as error:
            raise EngineFailure(INVALID_ANSWER, f"suggestions[{index}] is malformed ({error})") from error
        if not text or len(text) > MAX_TEXT:
            raise EngineFailure(INVALID_ANSWER, f"suggestions[{index}].text must be 1 to {MAX_TEXT} characters")
        cites = tuple(sorted({n for n in cited if type(n) is int and n in shown})) if isinstance(cited, list) \
            else ()
        if not cites:
            UNCITED_SUGGESTIONS.inc()
            continue
        suggestions.append(Suggestion(kind, text, priority, label, cites))
    return SayMeter(value, band_for(value), factors, dict(weights), reasoning.strip()[:300]), suggestions


def _traits(profile: PersonaProfile) -> str:
    described = [*profile.personality_traits, *(f"{name} {value:.2f} of 1" for name, value in profile.traits.items())]
    return ", ".join(described) or "none given"


def audit_prompt(profile: PersonaProfile, facts: tuple[float, int]) -> str:
    average, count = facts
    return AUDIT_PROMPT.format(
        who=f"archetype {profile.archetype}" if profile.archetype else "no archetype", difficulty=profile.difficulty,
        traits=_traits(profile), target=target_words_per_turn(profile.difficulty), average=average, count=count,
        objections="; ".join(profile.objection_patterns) or "none given", facts=_facts(profile.scenario),
        reasons="\n".join(f'- "{reason.value}": {meaning};' for reason, meaning in REASONS.items()),
        max_quotes=MAX_FLAGGED_QUOTES, max_quote_chars=MAX_QUOTE_CHARS, max_recommendations=MAX_RECOMMENDATIONS,
        max_recommendation_chars=MAX_RECOMMENDATION_CHARS, transcript_is_data=TRANSCRIPT_IS_DATA)


def _facts(scenario: ScenarioFacts) -> str:
    given = [f"{name.replace('_', ' ')} {value}" for name, value in
             (("budget_range", scenario.budget_range), ("decision_timeline", scenario.decision_timeline),
              ("company_size", scenario.company_size), ("industry", scenario.industry)) if value]
    return "; ".join(given) or "none given"


def measured(turns: Sequence[Turn]) -> tuple[float, int]:
    """(mean words per persona turn, persona turns): facts the audit reports as measured, as the local auditor
    measures them; ValueError when the persona never spoke."""
    counts = [words(turn.text) for turn in turns if turn.role is Role.ASSISTANT]
    if not counts:
        raise ValueError("no persona turns to audit")
    return round(sum(counts) / len(counts), 2), len(counts)


def parse_audit(content: str, turns: Sequence[Turn], profile: PersonaProfile) -> PersonaAudit:
    """The engine's JSON text as a persona audit, or EngineFailure naming what is wrong."""
    return audit_of(parse_json_object(content), turns, profile)


def _invalid(detail: str) -> EngineFailure:
    return EngineFailure(INVALID_ANSWER, detail)


def _text(value: object, where: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{where} must be a non-empty string")
    text = " ".join(value.split())
    if len(text) > limit:
        raise _invalid(f"{where} must be at most {limit} characters (got {len(text)})")
    return text


def _list(data: dict[str, Any], key: str, limit: int) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise _invalid(f"{key} must be a list (empty when there is nothing to say)")
    if len(value) > limit:
        raise _invalid(f"{key} must have at most {limit} items (got {len(value)})")
    return value


def _reason(value: object, where: str) -> FlagReason:
    name = value.strip().lower().removeprefix("flag_reason_") if isinstance(value, str) else ""
    try:
        return FlagReason(name)
    except ValueError:
        known = ", ".join(reason.value for reason in FlagReason)
        raise _invalid(f"{where} must be one of {known} (got {value!r})") from None


def _said(quote: str, spoken: str) -> bool:
    """Whether every part of the quote (parts cut by "...") is words the persona said, in order within a part;
    case, punctuation and spacing aside."""
    said = " " + " ".join(_WORDS.findall(normalise(spoken).casefold())) + " "
    parts = [_WORDS.findall(normalise(part).casefold()) for part in _ELLIPSIS.split(quote)]
    parts = [part for part in parts if part]
    return bool(parts) and all(f" {' '.join(part)} " in said for part in parts)


def audit_of(data: dict[str, Any], turns: Sequence[Turn], profile: PersonaProfile) -> PersonaAudit:
    """The engine's JSON object as a persona audit of ``turns``, or EngineFailure naming what is wrong.

    The judgement (scores, quotes, recommendations) is the model's, checked field by field; the facts (words per
    turn, turn count, target) are measured here, and the overall score is the mean of the five scores."""
    average, count = measured(turns)
    raw_scores = data.get("scores")
    if not isinstance(raw_scores, dict):
        raise _invalid("scores must be an object with " + ", ".join(_AUDITED))
    values = {}
    for name in _AUDITED:
        value = raw_scores.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
            raise _invalid(f"scores.{name} must be an integer from 1 to 10 (got {value!r})")
        values[name] = value
    scores = AuditScores(**values)
    persona = {turn.sequence: turn.text for turn in turns if turn.role is Role.ASSISTANT}
    quotes = []
    for index, item in enumerate(_list(data, "flagged_quotes", MAX_FLAGGED_QUOTES)):
        where = f"flagged_quotes[{index}]"
        if not isinstance(item, dict):
            raise _invalid(f"{where} must be an object")
        sequence = item.get("sequence")
        if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence not in persona:
            raise _invalid(f"{where}.sequence must be the number of a persona message of this call (got "
                           f"{sequence!r})")
        text = _text(item.get("text"), f"{where}.text", MAX_QUOTE_CHARS)
        if not _said(text, persona[sequence]):
            raise _invalid(f"{where}.text is not what the persona said in message {sequence}")
        quotes.append(FlaggedQuote(sequence, text, _reason(item.get("reason"), f"{where}.reason"),
                                   _text(item.get("explanation"), f"{where}.explanation", MAX_QUOTE_CHARS),
                                   candidate_before(turns, sequence)))
    recommendations = [_text(item, f"recommendations[{index}]", MAX_RECOMMENDATION_CHARS)
                       for index, item in enumerate(_list(data, "recommendations", MAX_RECOMMENDATIONS))]
    return PersonaAudit(
        archetype=profile.archetype,
        difficulty=profile.difficulty,
        scores=scores,
        overall_score=round(sum(scores.as_tuple()) / 5, 2),
        avg_words_per_turn=average,
        target_words_per_turn=target_words_per_turn(profile.difficulty),
        persona_turn_count=count,
        flagged_quotes=tuple(quotes),
        recommendations=tuple(dict.fromkeys(recommendations)),
    )
