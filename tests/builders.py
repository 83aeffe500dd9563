"""Builders of test data shared by the suites: unique ids and complete, valid personas."""

from __future__ import annotations

import uuid
from typing import Any

from google.protobuf import field_mask_pb2
from sparring.persona.v1 import persona_service_pb2 as pb

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
from svckit.context import CallContext
from svckit.identity import Principal


def uid() -> str:
    """Unique, a valid resource id, and a 'numword' for the full-text parser (letters and digits ending in a
    digit), so it is never stemmed."""
    return "x" + uuid.uuid4().hex[:10] + "9"


def field_mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


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


def new_persona(**overrides: Any) -> pb.Persona:
    """A complete, valid persona as a client sends it, with a slug and name of its own."""
    tag = uid()
    values: dict[str, Any] = dict(
        slug=f"persona-{tag}",
        display_name=f"Persona {tag}",
        role="VP Finance",
        blueprint=pb.BLUEPRINT_SALES,
        difficulty=3,
        company_context="a Series C fintech",
        personality_traits=["analytical", "direct"],
        communication_style="brief and numeric",
        objection_patterns=["too expensive", "no time this quarter"],
        prompt_template=(
            "You are {persona.name}, {persona.role} at {persona.company_context}.\n"
            "Scenario: {scenario.name} ({scenario.industry}, {scenario.company_size}).\n"
            "Pain points:\n{scenario.pain_points}\n"
            "{difficulty_instructions}\n{archetype_guidance}\nLiteral braces: {{ok}}"
        ),
        first_message_template="Hi, {persona.name} here. You wanted to talk about {scenario.name}?",
        active=True,
        description="A finance leader who wants numbers",
        domains=["fintech"],
        avatar_uri="https://example.com/avatar.png",
        traits=[pb.Trait(name="openness", value=0.4, trait_type="OCEAN"),
                pb.Trait(name="conscientiousness", value=0.9, trait_type="OCEAN")],
        beliefs=[pb.Belief(text="Cash is king", source="https://example.com/talk")],
        modes=[pb.Mode(mode="Critic", enabled=True), pb.Mode(mode="Mentor", enabled=False)],
        config=pb.PersonaConfig(humor_usage=pb.HUMOR_USAGE_LOW, emotional_style=pb.EMOTIONAL_STYLE_RESERVED,
                                voice_enabled=True, language_style=pb.LANGUAGE_STYLE_CONCISE,
                                default_mode="Critic"),
    )
    values.update(overrides)
    return pb.Persona(**values)


def caller(*roles: str, subject: str = "test@acme", organization: str = "acme") -> CallContext:
    """The context of a call made by ``subject`` with ``roles``, as the server sees it once admitted."""
    return CallContext("test", "test", principal=Principal(subject, organization, frozenset(roles)))
