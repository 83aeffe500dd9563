"""Builders of test data shared by the suites: unique ids and complete, valid personas."""

from __future__ import annotations

import uuid
from typing import Any

from calls.job_tracks import Blueprint
from persona_svc.domain.model import (
    Belief,
    EmotionalStyle,
    HumorUsage,
    LanguageStyle,
    Mode,
    PersonaConfig,
    PersonaFields,
    Trait,
)


def uid() -> str:
    """Unique, a valid resource id, and a 'numword' for the full-text parser (letters and digits ending in a
    digit), so it is never stemmed."""
    return "x" + uuid.uuid4().hex[:10] + "9"


def persona_fields(**overrides: Any) -> PersonaFields:
    """A complete, valid persona as the domain holds it (Sarah Chen, a finance leader), with a slug of its own."""
    values: dict[str, Any] = dict(
        slug=f"sarah-chen-{uid()}",
        display_name="Sarah Chen",
        role="VP Finance",
        blueprint=Blueprint.SALES,
        difficulty=3,
        company_context="Series C fintech",
        personality_traits=("analytical", "direct"),
        communication_style="brief",
        objection_patterns=("too expensive", "no time"),
        prompt_template="You are {persona.name}. {difficulty_instructions}",
        description="A finance leader",
        domains=("fintech", "saas"),
        avatar_uri="https://example.com/sarah.png",
        traits=(Trait("openness", 0.4, "OCEAN"), Trait("neuroticism", 0.0, "OCEAN"), Trait("humor", 1.0)),
        beliefs=(Belief("Cash is king", "https://example.com/talk"), Belief("Measure twice")),
        modes=(Mode("Critic", True), Mode("Mentor", False)),
        config=PersonaConfig(HumorUsage.LOW, EmotionalStyle.RESERVED, True, LanguageStyle.CONCISE, "Critic"),
    )
    values.update(overrides)
    return PersonaFields(**values)
