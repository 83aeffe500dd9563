"""The `local` engine: deterministic and offline, the default and what stands in when another engine fails."""

from __future__ import annotations

from collections.abc import Sequence

from analysis_svc.domain.conversation import ConversationMetrics
from analysis_svc.domain.model import Judgement, LiveWindow
from analysis_svc.domain.say_meter import score
from analysis_svc.domain.suggestions import stage_for, suggest
from calls.job_tracks import Blueprint
from calls.persona_audit import PersonaAudit, PersonaProfile, audit_persona
from calls.turns import Turn


class LocalEngine:
    name = "local"
    model = ""

    async def analyse(self, window: LiveWindow, metrics: ConversationMetrics) -> Judgement:
        blueprint = Blueprint(window.blueprint)
        suggestions = suggest(metrics, window.turns, blueprint, stage_for(window.turns[-1].sequence),
                              session_key=window.session_id, previous_curveball=window.previous_curveball)
        return Judgement(score(metrics, blueprint), suggestions)

    async def audit(self, turns: Sequence[Turn], profile: PersonaProfile) -> PersonaAudit:
        return audit_persona(turns, profile)
