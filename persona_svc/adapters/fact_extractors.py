"""Fact extractors behind the service layer's port: the deterministic local one."""

from __future__ import annotations

from calls.turns import Turn
from persona_svc.domain.facts import ExtractedFact, extract_facts


class LocalFactExtractor:
    name = "local"

    async def extract(self, turns: list[Turn]) -> list[ExtractedFact]:
        return extract_facts(turns)
