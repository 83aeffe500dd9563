"""The `local` engine: deterministic and offline, the default and what stands in when another engine fails."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from analysis_svc.domain.conversation import ConversationMetrics
from analysis_svc.domain.model import Judgement, LiveWindow
from analysis_svc.domain.phrasebook import UNDERSTOOD, phrases_for, texts_for
from analysis_svc.domain.say_meter import score
from analysis_svc.domain.suggestions import stage_for, suggest
from analysis_svc.domain.tracks import track_rubric
from analysis_svc.service_layer.ports import understands
from calls.job_tracks import Blueprint
from calls.persona_audit import PersonaAudit, PersonaProfile, audit_persona
from calls.turns import Turn


class LocalEngine:
    name = "local"
    model = ""

    def languages_for(self, blueprint: str) -> frozenset[str] | None:
        # Its rules are phrases: the sales measures have them in every language of the phrasebook, a track with its
        # own rubric in the languages of its tables.
        track = track_rubric(blueprint)
        return UNDERSTOOD if track is None else track.languages

    async def analyse(self, window: LiveWindow, metrics: ConversationMetrics) -> Judgement:
        blueprint = Blueprint(window.blueprint)
        texts = texts_for(window.language)
        meter = score(metrics, blueprint, window.tally, texts)
        suggestions = suggest(metrics, window.turns, blueprint, stage_for(window.turns[-1].sequence),
                              context=window.context, made=window.made, read=window.read,
                              phrases=phrases_for(window.language), texts=texts, factors=meter.factors)
        if not understands(self, window.language, window.blueprint):
            # Its phrases find next to nothing in another language: say so, not pass the score off as a judgement.
            meter = dataclasses.replace(meter, reasoning=(
                f"This call is in a language the local engine does not understand on the {blueprint} track "
                f"({window.language}): the reading counts only who talks and who asks, not what was said."))
        return Judgement(meter, suggestions)

    async def audit(self, turns: Sequence[Turn], profile: PersonaProfile) -> PersonaAudit:
        return audit_persona(turns, profile)
