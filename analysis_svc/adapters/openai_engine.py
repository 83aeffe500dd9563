"""The `openai` engine: any OpenAI-compatible endpoint judges the window; its JSON is checked before use.

The call itself (timeouts, bounded retries, JSON output) is the shared ``svckit.openai_json`` client's; an
answer that cannot be used (unreachable, refused, slow, malformed, out of range) raises ``EngineFailure`` and the
caller falls back to `local`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analysis_svc.domain.say_meter import FACTORS, SayMeter, band_for
from analysis_svc.domain.suggestions import Priority, Suggestion, SuggestionType
from svckit.openai_json import EngineFailure, OpenAIJson, parse_json_object
from svckit.turns import Role, Turn

SYSTEM_PROMPT = """You are an expert coach analysing a live {blueprint} call between a candidate (CANDIDATE) and an
AI persona (PERSONA). Judge the candidate and answer with JSON only, in exactly this shape:
{{"say_meter": {{"score": 0-100, "factors": {{"rapport": 0-100, "discovery": 0-100, "objection_handling": 0-100,
"value_articulation": 0-100, "closing_momentum": 0-100}}, "reasoning": "one line"}},
"suggestions": [{{"type": "context_injection" | "curveball" | "followup_question", "text": "...",
"priority": "low" | "medium" | "high" | "critical", "label": "short title"}}]}}
80-100 is excellent (strong rapport, great discovery, objections handled), 50-79 adequate, under 50 poor.
Context injections are hints for the persona; curveballs are surprises to inject; follow-up questions are what the
candidate should ask next. At most 5 suggestions."""

MAX_SUGGESTIONS = 5
MAX_TEXT = 500


class OpenAIEngine:
    def __init__(self, base_url: str, api_key: str, model: str, timeout_seconds: float, max_retries: int) -> None:
        self._client = OpenAIJson(base_url, api_key, model, timeout_seconds, max_retries)
        self.model = model

    async def analyse(self, turns: Sequence[Turn], blueprint: str,
                      weights: dict[str, int]) -> tuple[SayMeter, list[Suggestion]]:
        transcript = "\n".join(f"{'CANDIDATE' if t.role is Role.USER else 'PERSONA'}: {t.text}" for t in turns)
        data = await self._client.complete_json(SYSTEM_PROMPT.format(blueprint=blueprint),
                                                f"Analyze this call:\n\n{transcript}")
        return answer_of(data, weights)

    async def close(self) -> None:
        await self._client.close()


def _score(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise EngineFailure("invalid_answer", f"{where} must be a number from 0 to 100 (got {value!r})")
    return round(value)


def parse_answer(content: str, weights: dict[str, int]) -> tuple[SayMeter, list[Suggestion]]:
    """The engine's JSON text as a Say Meter and suggestions, or EngineFailure naming what is wrong."""
    return answer_of(parse_json_object(content), weights)


def answer_of(data: dict[str, Any], weights: dict[str, int]) -> tuple[SayMeter, list[Suggestion]]:
    """The engine's JSON object as a Say Meter and suggestions, or EngineFailure naming what is wrong."""
    meter = data.get("say_meter")
    if not isinstance(meter, dict) or not isinstance(meter.get("factors"), dict):
        raise EngineFailure("invalid_answer", "say_meter with factors is required")
    factors = {name: _score(meter["factors"].get(name), f"say_meter.factors.{name}") for name in FACTORS}
    value = _score(meter.get("score"), "say_meter.score")
    reasoning = meter.get("reasoning")
    if not isinstance(reasoning, str) or not reasoning.strip():
        raise EngineFailure("invalid_answer", "say_meter.reasoning must be a sentence")
    listed = data.get("suggestions") or []
    if not isinstance(listed, list):
        raise EngineFailure("invalid_answer", "suggestions must be a list")
    suggestions = []
    for index, item in enumerate(listed[:MAX_SUGGESTIONS]):
        try:
            kind, priority = SuggestionType(item["type"]), Priority(item["priority"])
            text, label = str(item["text"]).strip(), str(item.get("label") or "")[:100]
        except (KeyError, TypeError, ValueError) as error:
            raise EngineFailure("invalid_answer", f"suggestions[{index}] is malformed ({error})") from error
        if not text or len(text) > MAX_TEXT:
            raise EngineFailure("invalid_answer", f"suggestions[{index}].text must be 1 to {MAX_TEXT} characters")
        suggestions.append(Suggestion(kind, text, priority, label))
    return SayMeter(value, band_for(value), factors, dict(weights), reasoning.strip()[:300]), suggestions
