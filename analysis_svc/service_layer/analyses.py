"""Live analyses: run the engine on a session's recent window, store the reading, read them back."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from analysis_svc.adapters.openai_engine import OpenAIEngine
from analysis_svc.adapters.transcript_reader import TranscriptReader
from analysis_svc.domain.conversation import ConversationMetrics, Topic, measure
from analysis_svc.domain.say_meter import Band, Blueprint, SayMeter, score
from analysis_svc.domain.suggestions import Priority, Suggestion, SuggestionType, stage_for, suggest
from svckit.db import autocommit
from svckit.errors import FailedPrecondition, NotFound, Violations
from svckit.notify import notify
from svckit.openai_json import EngineFailure, deadline_of, within_deadline
from svckit.pagination import PageTokens, after_cursor, page_size
from svckit.usecase import Page

log = logging.getLogger("analysis.analyses")

ENGINE_FALLBACKS = Counter("sparring_analysis_engine_fallbacks_total",
                           "Analyses and audits where the openai engine failed and the local one stood in.",
                           ("reason",))

DEFAULT_WINDOW, MAX_WINDOW = 20, 200
MAX_TRIGGER_ID = 100
CHANGES_CHANNEL = "analysis_changes"  # "{session_id}:{analysis_id}" (a new analysis) or
# "{session_id}:suggestion:{suggestion_id}" (a suggestion applied or dismissed)


@dataclass(frozen=True)
class StoredSuggestion:
    id: str
    analysis_id: str
    session_id: str
    suggestion: Suggestion
    state: str
    create_time: datetime
    command: str = ""
    dismiss_reason: str = ""
    resolve_time: datetime | None = None
    revision: int = 1

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'


@dataclass(frozen=True)
class StoredAnalysis:
    id: str
    session_id: str
    trigger_id: str
    trigger_source: str
    up_to_sequence: int  # where in the call it was triggered: its place among the session's analyses
    window_first: int
    window_last: int
    window_count: int
    blueprint: str
    say_meter: SayMeter
    metrics: dict[str, Any]
    engine: str
    latency_ms: float
    create_time: datetime
    suggestions: tuple[StoredSuggestion, ...] = ()
    engine_fallback: bool = False
    model: str = ""


@dataclass(frozen=True)
class Snapshot:
    session_id: str
    latest: StoredAnalysis | None  # the current meter: the last in call order
    history: list[tuple[str, int, int, datetime]]  # (analysis id, last sequence, score, time) in call order
    open_suggestions: list[StoredSuggestion]


def _metrics_record(metrics: ConversationMetrics) -> dict[str, Any]:
    """The measures the contract publishes."""
    return {
        "candidate_talk_ratio": metrics.candidate_talk_ratio,
        "candidate_question_rate": metrics.candidate_question_rate,
        "candidate_words_per_turn": metrics.candidate_words_per_turn,
        "persona_words_per_turn": metrics.persona_words_per_turn,
        "longest_monologue_words": metrics.candidate_longest_monologue_words,
        "pain_covered": Topic.PAIN in metrics.topics_covered,
        "budget_covered": Topic.BUDGET in metrics.topics_covered,
        "timeline_covered": Topic.TIMELINE in metrics.topics_covered,
        "decision_process_covered": Topic.DECISION_PROCESS in metrics.topics_covered,
        "success_criteria_covered": Topic.SUCCESS_CRITERIA in metrics.topics_covered,
        "objections_raised": metrics.objections_raised,
        "objections_handled": metrics.objections_handled,
        "next_step_committed": metrics.next_step_committed,
    }


_INSERT = sa.text("""
INSERT INTO analysis.voice_analysis (id, analysis_id, session_id, kind, meter_score, meter_factors, meter_weights,
    band, reasoning, metrics, trigger_id, trigger_source, up_to_sequence, window_first, window_last, window_count,
    blueprint, engine, engine_fallback, model, latency_ms, suggestion_text, label, priority, state, position)
VALUES (:id, :analysis_id, :session_id, :kind, :meter_score, CAST(:meter_factors AS jsonb),
    CAST(:meter_weights AS jsonb), :band, :reasoning, CAST(:metrics AS jsonb), :trigger_id, :trigger_source,
    :up_to_sequence, :window_first, :window_last, :window_count, :blueprint, :engine, :engine_fallback, :model,
    :latency_ms, :suggestion_text, :label, :priority, :state, :position)
ON CONFLICT DO NOTHING
RETURNING create_time
""")
# Each analysis's rows: its say_meter row first (position 0), then its suggestions in the order they were raised.
_SELECT_GROUPS = sa.text("SELECT * FROM analysis.voice_analysis WHERE analysis_id = ANY(:ids) "
                         "ORDER BY analysis_id, position")
# Suggestions across analyses: an analysis's rows share its create_time, so their position orders them.
_SUGGESTION_ORDER = "(create_time, analysis_id, position)"
# A session's analyses in call order: by the sequence they were triggered at, whatever order they finished in;
# analyses of one sequence in the order they were stored.
_CALL_ORDER = "up_to_sequence, create_time, analysis_id"


def _after_in_call_order(after: list | None) -> tuple[str, dict]:
    """Where a page of analyses in call order starts: after ``[up_to_sequence, create_time, analysis_id]``."""
    if not after:
        return "true", {}
    sequence, *stored_after = after
    condition, cursor = after_cursor(stored_after, key="(create_time, analysis_id)")
    return (f"(up_to_sequence > :after_sequence OR up_to_sequence = :after_sequence AND {condition})",
            {**cursor, "after_sequence": sequence})


def row_suggestion(row: Any) -> StoredSuggestion:
    suggestion = Suggestion(SuggestionType(row.kind), row.suggestion_text, Priority(row.priority), row.label)
    return StoredSuggestion(row.id, row.analysis_id, row.session_id, suggestion, row.state, row.create_time,
                            row.command, row.dismiss_reason, row.resolve_time, row.revision)


def _row_analysis(rows: list[Any]) -> StoredAnalysis:
    head = rows[0]
    meter = SayMeter(score=head.meter_score, band=Band(head.band), factors=dict(head.meter_factors),
                     weights=dict(head.meter_weights), reasoning=head.reasoning)
    suggestions = tuple(row_suggestion(row) for row in rows[1:])
    return StoredAnalysis(
        id=head.analysis_id, session_id=head.session_id, trigger_id=head.trigger_id,
        trigger_source=head.trigger_source, up_to_sequence=head.up_to_sequence, window_first=head.window_first,
        window_last=head.window_last, window_count=head.window_count, blueprint=head.blueprint, say_meter=meter,
        metrics=dict(head.metrics),
        engine=head.engine, latency_ms=head.latency_ms, create_time=head.create_time, suggestions=suggestions,
        engine_fallback=head.engine_fallback, model=head.model,
    )


class Analyses:
    def __init__(self, engine: AsyncEngine, transcripts: TranscriptReader, page_tokens: PageTokens,
                 openai_engine: OpenAIEngine | None = None, default_engine: str = "local") -> None:
        self._engine = engine
        self._reads = autocommit(engine)
        self._transcripts = transcripts
        self._tokens = page_tokens
        self._openai = openai_engine
        self._default_engine = default_engine

    async def request_analysis(self, session_id: str, up_to_sequence: int, trigger_id: str, source: str,
                               window_size: int, engine: str = "",
                               budget_seconds: float | None = None) -> tuple[StoredAnalysis, bool]:
        """Analyses the window ending at ``up_to_sequence``; a repeated trigger returns the stored one.

        ``budget_seconds`` is the caller's remaining deadline: the model gets what is left of it, less a reserve
        for storing, so a slow model still ends in a stored (local) analysis rather than a cancelled call."""
        deadline = deadline_of(budget_seconds)
        violations = Violations()
        violations.require(bool(trigger_id) and len(trigger_id) <= MAX_TRIGGER_ID and "\x00" not in trigger_id,
                           "trigger_id", f"is required, 1 to {MAX_TRIGGER_ID} characters")
        violations.require(up_to_sequence >= 0, "up_to_sequence", "must not be negative")
        violations.require(0 <= window_size <= MAX_WINDOW, "window_size", f"must be 1 to {MAX_WINDOW}, or 0 for "
                                                                          f"{DEFAULT_WINDOW}")
        engine = engine or self._default_engine
        violations.require(engine == "local" or self._openai is not None, "engine",
                           "ENGINE_OPENAI is not configured on this service (ANALYSIS_OPENAI_BASE_URL)")
        violations.raise_if_any()
        existing = await self._by_trigger(session_id, trigger_id)
        if existing is not None:
            return existing, True
        started = time.perf_counter()
        window, previous_curveball = await asyncio.gather(
            self._transcripts.window(session_id, up_to_sequence, window_size or DEFAULT_WINDOW),
            self._last_curveball(session_id))
        if up_to_sequence > window.last_durable_sequence:
            raise FailedPrecondition(
                f"sequence {up_to_sequence} is not durable yet (last durable: {window.last_durable_sequence})",
                reason="SEQUENCE_NOT_DURABLE", metadata={"last_durable_sequence": str(window.last_durable_sequence)})
        if not window.turns:
            raise FailedPrecondition(f"sessions/{session_id} has no messages to analyse yet", reason="NO_MESSAGES")
        blueprint = Blueprint(window.blueprint)
        metrics = measure(window.turns)
        meter = score(metrics, blueprint)
        suggestions = suggest(metrics, window.turns, blueprint, stage_for(window.turns[-1].sequence),
                              session_key=session_id, previous_curveball=previous_curveball)
        fallback, model = False, ""
        if engine == "openai" and self._openai is not None:
            model = self._openai.model
            try:
                meter, suggestions = await within_deadline(
                    self._openai.analyse(window.turns, window.blueprint, meter.weights), deadline)
            except EngineFailure as failure:
                # The local reading stands in; the call is never left without a Say Meter.
                ENGINE_FALLBACKS.labels(failure.reason).inc()
                log.warning("openai engine failed for sessions/%s (%s); using local", session_id, failure)
                fallback, engine, model = True, "local", ""  # the engine that produced the result
        analysis_id = str(uuid.uuid4())
        latency_ms = (time.perf_counter() - started) * 1000
        common = {"analysis_id": analysis_id, "session_id": session_id, "trigger_id": trigger_id,
                  "trigger_source": source, "up_to_sequence": up_to_sequence or window.last_durable_sequence,
                  "window_first": window.turns[0].sequence, "window_last": window.turns[-1].sequence,
                  "window_count": len(window.turns),
                  "blueprint": window.blueprint, "engine": engine, "engine_fallback": fallback, "model": model,
                  "latency_ms": latency_ms}
        empty_meter = {"meter_score": None, "meter_factors": None, "meter_weights": None, "band": None,
                       "reasoning": None, "metrics": None}
        async with self._engine.begin() as connection:
            inserted = (await connection.execute(_INSERT, {
                **common, "id": analysis_id, "kind": "say_meter", "meter_score": meter.score,
                "meter_factors": json.dumps(meter.factors), "meter_weights": json.dumps(meter.weights),
                "band": meter.band.value, "reasoning": meter.reasoning, "metrics": json.dumps(_metrics_record(metrics)),
                "suggestion_text": None, "label": None, "priority": None, "state": None, "position": 0,
            })).first()
            if inserted is None:  # a concurrent request with the same trigger won
                return await self._by_trigger(session_id, trigger_id), True
            if suggestions:  # one round trip for all of them
                await connection.execute(_INSERT, [{
                    **common, **empty_meter, "id": str(uuid.uuid4()), "kind": suggestion.type.value,
                    "suggestion_text": suggestion.text, "label": suggestion.label,
                    "priority": suggestion.priority.value, "state": "open", "position": position,
                } for position, suggestion in enumerate(suggestions, start=1)])
            await notify(connection, CHANGES_CHANNEL, f"{session_id}:{analysis_id}")
        return await self.get_analysis(session_id, analysis_id), False

    async def get_analysis(self, session_id: str, analysis_id: str) -> StoredAnalysis:
        async with self._reads.connect() as connection:
            rows = (await connection.execute(_SELECT_GROUPS, {"ids": [analysis_id]})).all()
        if not rows or rows[0].session_id != session_id:
            raise NotFound(f"sessions/{session_id}/analyses/{analysis_id}", reason="ANALYSIS_NOT_FOUND")
        return _row_analysis(rows)

    async def get_suggestion(self, session_id: str, suggestion_id: str) -> StoredSuggestion:
        async with self._reads.connect() as connection:
            row = (await connection.execute(sa.text(
                "SELECT * FROM analysis.voice_analysis WHERE id = :id AND session_id = :session "
                "AND kind <> 'say_meter'"), {"id": suggestion_id, "session": session_id})).first()
        if row is None:
            raise NotFound(f"sessions/{session_id}/suggestions/{suggestion_id}", reason="SUGGESTION_NOT_FOUND")
        return row_suggestion(row)

    async def list_suggestions(self, session_id: str, filters: dict[str, str | None], requested_size: int,
                               token: str) -> Page[StoredSuggestion]:
        """Suggestions of a session in the order they were raised, filtered by state, type or analysis."""
        size = page_size(requested_size)
        scope = {"session": session_id, **filters}
        after = self._tokens.decode(token, scope)
        clauses = ["session_id = :session", "kind <> 'say_meter'"]
        if filters.get("state"):
            clauses.append("state = :state")
        if filters.get("kind"):
            clauses.append("kind = :kind")
        if filters.get("analysis_id"):
            clauses.append("analysis_id = :analysis_id")
        condition, cursor = after_cursor(after, key=_SUGGESTION_ORDER)
        clauses.append(condition)
        query = sa.text(f"SELECT * FROM analysis.voice_analysis WHERE {' AND '.join(clauses)} "
                        f"ORDER BY {_SUGGESTION_ORDER} LIMIT :limit")
        params = {**scope, **cursor, "limit": size + 1}
        async with self._reads.connect() as connection:
            rows = (await connection.execute(query, params)).all()
        rows, next_token = self._tokens.page(
            rows, size, lambda r: [r.create_time.isoformat(), r.analysis_id, r.position], scope)
        return Page([row_suggestion(row) for row in rows], next_token)

    async def list_analyses(self, session_id: str, source: str | None, requested_size: int,
                            token: str) -> Page[StoredAnalysis]:
        """A session's analyses in call order, optionally of one trigger source."""
        size = page_size(requested_size)
        filters = {"session": session_id, "source": source}
        after = self._tokens.decode(token, filters)
        condition, cursor = _after_in_call_order(after)
        query = ("SELECT analysis_id, up_to_sequence, create_time FROM analysis.voice_analysis "
                 "WHERE session_id = :session AND kind = 'say_meter'"
                 + (" AND trigger_source = :source" if source else "")
                 + f" AND {condition} ORDER BY {_CALL_ORDER} LIMIT :limit")
        params = {"session": session_id, "source": source, **cursor, "limit": size + 1}
        async with self._reads.connect() as connection:
            keys = (await connection.execute(sa.text(query), params)).all()
            keys, next_token = self._tokens.page(
                keys, size, lambda k: [k.up_to_sequence, k.create_time.isoformat(), k.analysis_id], filters)
            # The whole page's rows in one read, not one read per analysis.
            rows = (await connection.execute(_SELECT_GROUPS, {"ids": [k.analysis_id for k in keys]})).all()
        groups: dict[str, list[Any]] = {}
        for row in rows:
            groups.setdefault(row.analysis_id, []).append(row)
        return Page([_row_analysis(groups[k.analysis_id]) for k in keys], next_token)

    async def snapshot(self, session_id: str) -> Snapshot:
        async with self._reads.connect() as connection:
            history = (await connection.execute(sa.text(
                "SELECT analysis_id, window_last, meter_score, create_time FROM analysis.voice_analysis "
                f"WHERE session_id = :session AND kind = 'say_meter' ORDER BY {_CALL_ORDER}"),
                {"session": session_id})).all()
            open_rows = (await connection.execute(sa.text(
                "SELECT * FROM analysis.voice_analysis WHERE session_id = :session AND kind <> 'say_meter' "
                f"AND state = 'open' ORDER BY {_SUGGESTION_ORDER}"), {"session": session_id})).all()
        latest = await self.get_analysis(session_id, history[-1].analysis_id) if history else None
        return Snapshot(session_id, latest, [tuple(h) for h in history], [row_suggestion(r) for r in open_rows])

    async def _by_trigger(self, session_id: str, trigger_id: str) -> StoredAnalysis | None:
        async with self._reads.connect() as connection:
            analysis_id = await connection.scalar(sa.text(
                "SELECT analysis_id FROM analysis.voice_analysis WHERE session_id = :session AND trigger_id = "
                ":trigger AND kind = 'say_meter'"), {"session": session_id, "trigger": trigger_id})
        return await self.get_analysis(session_id, analysis_id) if analysis_id else None

    async def _last_curveball(self, session_id: str) -> str | None:
        async with self._reads.connect() as connection:
            return await connection.scalar(sa.text(
                "SELECT label FROM analysis.voice_analysis WHERE session_id = :session AND kind = 'curveball' "
                "ORDER BY create_time DESC LIMIT 1"), {"session": session_id})
