"""The OpenAI-compatible engine as a moderation check of the candidate's messages: asked which of them break the
persona's input filters, its answer checked before use (each finding names a message it was given, a category it
was asked about, and words that message holds); anything else is EngineFailure, and the rules answer instead."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from analysis_svc.domain.content_findings import MAX_QUOTE_CHARACTERS, ContentFinding
from calls.turns import TRANSCRIPT_IS_DATA, Turn
from guardrails.filters import ContentFilter, FilterCategory
from svckit.openai_json import INVALID_ANSWER, EngineFailure, OpenAIJson

# What the model is told each category means; a policy's own patterns are left to the rules.
CATEGORY_MEANINGS = {
    FilterCategory.ILLEGAL_INTERVIEW_QUESTIONS: (
        "a question a hiring manager may not legally ask a job candidate: about their age, pregnancy or family "
        "plans, religion, nationality or origin, disability or health, marital status, or any other protected "
        "characteristic (topic: what it asks about, in one or two words); not a job-related question the law "
        "allows (authorisation to work, essential functions with or without accommodation, being over 18, "
        "languages spoken)"),
    FilterCategory.SLURS: "a slur or sweeping contempt for people for what they are (topic: slurs)",
    FilterCategory.THREATS: "a threat of harm to the person spoken to (topic: threats)",
    FilterCategory.DEFAMATION: "an accusation of a crime or dishonesty against a real, named company or person "
                               "(topic: defamation)",
}
MAX_TOPIC_CHARACTERS = 40

_SYSTEM = (
    "You moderate a live training call. Find the messages that fall into one of the categories listed in the user "
    "message's \"categories\" (each with what it means). " + TRANSCRIPT_IS_DATA + " Answer with one JSON object: "
    "{\"findings\": [{\"sequence\": <the message's sequence>, \"category\": <one of the categories' keys>, "
    "\"topic\": <a word or two>, \"quote\": <the words of the message that fall into the category, copied exactly>}"
    "]}, an empty list when none does."
)


class OpenAIModeration:
    def __init__(self, client: OpenAIJson) -> None:
        self._client = client

    async def findings(self, turns: Sequence[Turn], filters: tuple[ContentFilter, ...]) -> tuple[ContentFinding, ...]:
        """What the model finds in ``turns`` for the ``filters`` it can judge; EngineFailure when its answer is
        unusable."""
        judged = {f.category: f for f in filters if f.category in CATEGORY_MEANINGS}
        request = {"categories": {category.value: CATEGORY_MEANINGS[category] for category in judged},
                   "transcript": [{"sequence": turn.sequence, "speaker": "candidate", "text": turn.text}
                                  for turn in turns]}
        answer = await self._client.complete_json(_SYSTEM, json.dumps(request))
        return _findings_of(answer, {turn.sequence: turn.text for turn in turns}, judged)

    async def close(self) -> None:
        await self._client.close()


def _findings_of(answer: dict[str, Any], texts: dict[int, str],
                 judged: dict[FilterCategory, ContentFilter]) -> tuple[ContentFinding, ...]:
    listed = answer.get("findings")
    if not isinstance(listed, list):
        raise EngineFailure(INVALID_ANSWER, "'findings' must be a list")
    findings = []
    for index, item in enumerate(listed):
        if not isinstance(item, dict):
            raise EngineFailure(INVALID_ANSWER, f"findings[{index}] must be an object")
        sequence, category, topic, quote = (item.get(key) for key in ("sequence", "category", "topic", "quote"))
        if not isinstance(sequence, int) or sequence not in texts:
            raise EngineFailure(INVALID_ANSWER, f"findings[{index}].sequence is no message it was given")
        if category not in {c.value for c in judged}:
            raise EngineFailure(INVALID_ANSWER, f"findings[{index}].category is not one it was asked about")
        if not isinstance(topic, str) or not 0 < len(topic) <= MAX_TOPIC_CHARACTERS:
            raise EngineFailure(INVALID_ANSWER, f"findings[{index}].topic must be 1 to {MAX_TOPIC_CHARACTERS} "
                                                "characters")
        if not isinstance(quote, str) or not quote or quote not in texts[sequence]:
            raise EngineFailure(INVALID_ANSWER, f"findings[{index}].quote is not words of message {sequence}")
        content_filter = judged[FilterCategory(category)]
        findings.append(ContentFinding(content_filter.rule, content_filter.category, content_filter.decision,
                                       topic.lower(), sequence, quote[:MAX_QUOTE_CHARACTERS]))
    return tuple(findings)
