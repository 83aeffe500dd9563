"""The `openai` engine: any OpenAI-compatible endpoint judges the window; its JSON is checked before use.

Timeouts and bounded retries are the client's; an answer that cannot be used (unreachable, refused,
slow, malformed, out of range) raises ``EngineFailure`` and the caller falls back to `local`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import openai

from analysis_svc.domain.say_meter import FACTORS, SayMeter, band_for
from analysis_svc.domain.suggestions import Priority, Suggestion, SuggestionType
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


class EngineFailure(Exception):
    """The engine's answer cannot be used; ``reason`` labels the fall-back metric."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class OpenAIEngine:
    def __init__(self, base_url: str, api_key: str, model: str, timeout_seconds: float, max_retries: int) -> None:
        self.model = model
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "unused", timeout=timeout_seconds,
                                          max_retries=max_retries)

    async def analyse(self, turns: Sequence[Turn], blueprint: str,
                      weights: dict[str, int]) -> tuple[SayMeter, list[Suggestion]]:
        transcript = "\n".join(f"{'CANDIDATE' if t.role is Role.USER else 'PERSONA'}: {t.text}" for t in turns)
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": SYSTEM_PROMPT.format(blueprint=blueprint)},
                          {"role": "user", "content": f"Analyze this call:\n\n{transcript}"}],
                response_format={"type": "json_object"},
            )
        except openai.APITimeoutError as error:
            raise EngineFailure("timeout", str(error)) from error
        except openai.RateLimitError as error:
            raise EngineFailure("rate_limited", str(error)) from error
        except openai.APIStatusError as error:
            raise EngineFailure(f"http_{error.status_code}", str(error)) from error
        except openai.APIError as error:
            raise EngineFailure("unreachable", str(error)) from error
        content = response.choices[0].message.content if response.choices else None
        return parse_answer(content or "", weights)

    async def close(self) -> None:
        await self._client.close()


def _score(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise EngineFailure("invalid_answer", f"{where} must be a number from 0 to 100 (got {value!r})")
    return round(value)


def parse_answer(content: str, weights: dict[str, int]) -> tuple[SayMeter, list[Suggestion]]:
    """The engine's JSON as a Say Meter and suggestions, or EngineFailure naming what is wrong."""
    try:
        data = json.loads(content)
    except json.JSONDecodeError as error:
        raise EngineFailure("malformed_json", str(error)) from error
    meter = data.get("say_meter") if isinstance(data, dict) else None
    if not isinstance(meter, dict) or not isinstance(meter.get("factors"), dict):
        raise EngineFailure("invalid_answer", "say_meter with factors is required")
    factors = {name: _score(meter["factors"].get(name), f"say_meter.factors.{name}") for name in FACTORS}
    value = _score(meter.get("score"), "say_meter.score")
    reasoning = meter.get("reasoning")
    if not isinstance(reasoning, str) or not reasoning.strip():
        raise EngineFailure("invalid_answer", "say_meter.reasoning must be a sentence")
    suggestions = []
    for index, item in enumerate((data.get("suggestions") or [])[:MAX_SUGGESTIONS]):
        try:
            kind, priority = SuggestionType(item["type"]), Priority(item["priority"])
            text, label = str(item["text"]).strip(), str(item.get("label") or "")[:100]
        except (KeyError, TypeError, ValueError) as error:
            raise EngineFailure("invalid_answer", f"suggestions[{index}] is malformed ({error})") from error
        if not text or len(text) > MAX_TEXT:
            raise EngineFailure("invalid_answer", f"suggestions[{index}].text must be 1 to {MAX_TEXT} characters")
        suggestions.append(Suggestion(kind, text, priority, label))
    return SayMeter(value, band_for(value), factors, dict(weights), reasoning.strip()[:300]), suggestions
