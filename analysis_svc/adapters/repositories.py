"""Repositories of the analysis schema: domain objects in, domain objects out."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from analysis_svc.adapters import tables as t
from analysis_svc.domain import running
from analysis_svc.domain.content_findings import ContentFinding
from analysis_svc.domain.model import (
    SESSION_END,
    KeptMeasures,
    NewAnalysis,
    NewAudit,
    ReadingState,
    SayMeterArc,
    ScorePoint,
    Snapshot,
    StoredAnalysis,
    StoredAudit,
    StoredSuggestion,
)
from analysis_svc.domain.say_meter import Band, SayMeter
from analysis_svc.domain.suggestions import Priority, Suggestion, SuggestionType
from analysis_svc.domain.switching import rule_suggestion_id
from analysis_svc.domain.tracks.rubric import Tally
from analysis_svc.domain.trend import MAX_TREND_READINGS, NO_ALERT, NO_TREND, ProspectAlert, ScoreAt, Trend
from calls.persona_audit import PersonaAudit
from svckit.pagination import after_cursor
from svckit.records import from_record, to_record

_rows = t.voice_analysis.c
_audits = t.persona_audits.c
_IS_SUGGESTION = _rows.kind != "say_meter"
# Suggestions across analyses: an analysis's rows share its create_time, so their position orders them.
_SUGGESTION_ORDER = "(create_time, analysis_id, position)"
# A session's analyses in call order: by the sequence they were triggered at, whatever order they finished in;
# analyses of one sequence in the order they were stored.
_CALL_ORDER = (_rows.up_to_sequence, _rows.create_time, _rows.analysis_id)


def _state_of_session() -> tuple[sa.ColumnElement[bool], ...]:
    return _rows.organization == sa.bindparam("organization"), _rows.session_id == sa.bindparam("session_id")


# The last live readings in call order up to a new one, latest first, for its trend and alert.
_EARLIER_READINGS = (
    sa.select(_rows.up_to_sequence, _rows.meter_score, _rows.create_time, _rows.analysis_id,
              sa.func.coalesce(_rows.losing_prospect["active"].as_boolean(), False).label("alert_on"))
    .where(*_state_of_session(), _rows.kind == "say_meter", _rows.trigger_source != SESSION_END,
           _rows.up_to_sequence <= sa.bindparam("up_to_sequence"))
    .order_by(*(column.desc() for column in _CALL_ORDER)).limit(MAX_TREND_READINGS).subquery())
_earlier = _EARLIER_READINGS.c

# What a new reading builds on, in one statement (one round trip), built once: the analysis already stored for its
# trigger, the labels suggested so far, whether a handoff suggestion is open, the measures kept by the last
# reading up to it ([up_to_sequence, call_measures, call_tally]), and the last live readings' [up_to_sequence,
# score, alert on].
_READING_STATE = sa.select(
    sa.select(_rows.analysis_id).where(*_state_of_session(), _rows.trigger_id == sa.bindparam("trigger_id"),
                                       _rows.kind == "say_meter").scalar_subquery().label("existing"),
    sa.select(sa.func.array_agg(_rows.label.distinct())).where(*_state_of_session(), _IS_SUGGESTION)
    .scalar_subquery().label("made"),
    sa.exists().where(*_state_of_session(), _rows.kind == SuggestionType.HANDOFF.value, _rows.state == "open")
    .label("handoff_open"),
    sa.select(sa.func.jsonb_build_array(_rows.up_to_sequence, _rows.call_measures, _rows.call_tally, type_=JSONB))
    .where(*_state_of_session(), _rows.kind == "say_meter", _rows.up_to_sequence <= sa.bindparam("up_to_sequence"),
           _rows.call_measures.is_not(None))
    .order_by(*(column.desc() for column in _CALL_ORDER)).limit(1).scalar_subquery().label("kept"),
    sa.select(sa.func.jsonb_agg(aggregate_order_by(
        sa.func.jsonb_build_array(_earlier.up_to_sequence, _earlier.meter_score, _earlier.alert_on),
        _earlier.up_to_sequence.desc(), _earlier.create_time.desc(), _earlier.analysis_id.desc())))
    .scalar_subquery().label("earlier"),
)


# Built once (their SQL compiled once): a reading's row, and its suggestions' rows.
_INSERT_READING = insert(t.voice_analysis).on_conflict_do_nothing().returning(_rows.create_time)
_INSERT_SUGGESTIONS = insert(t.voice_analysis).on_conflict_do_nothing()

# A reading builds on the measures of the last reading before it, and only on those: a long call's earlier readings
# would each keep a copy (tens of kB with the words' counts) that nothing reads again. Readings up to this many
# messages before a newer one keep theirs, for a reading that comes late (triggers delivered out of order); one
# from further back reads the call back from where the nearest kept measures end, as after missed readings. Rows
# another reading is clearing at the same moment are skipped (no wait, no deadlock): the next reading clears them.
KEEP_MEASURES_BACK = 50
_FORGET_OLDER_MEASURES = (
    sa.update(t.voice_analysis)
    .where(_rows.id.in_(
        sa.select(_rows.id)
        .where(_rows.organization == sa.bindparam("of_organization"), _rows.session_id == sa.bindparam("of_session"),
               _rows.kind == "say_meter", _rows.call_measures.is_not(None),
               _rows.up_to_sequence < sa.bindparam("below"))
        .with_for_update(skip_locked=True)))
    .values(call_measures=None, call_tally=None))


def _suggestion(row: Any) -> StoredSuggestion:
    suggestion = Suggestion(SuggestionType(row.kind), row.suggestion_text, Priority(row.priority), row.label,
                            tuple(row.cites), row.switching_rule)
    return StoredSuggestion(row.id, row.analysis_id, row.session_id, suggestion, row.state, row.create_time,
                            row.command, row.dismiss_reason, row.resolve_time, row.revision, row.position)


def _analysis(rows: Sequence[Any]) -> StoredAnalysis:
    """An analysis from its rows in position order: its Say Meter row, then its suggestions."""
    head = rows[0]
    meter = SayMeter(score=head.meter_score, band=Band(head.band), factors=dict(head.meter_factors),
                     weights=dict(head.meter_weights), reasoning=head.reasoning)
    return StoredAnalysis(
        id=head.analysis_id, session_id=head.session_id, trigger_id=head.trigger_id,
        trigger_source=head.trigger_source, up_to_sequence=head.up_to_sequence, window_first=head.window_first,
        window_last=head.window_last, window_count=head.window_count, blueprint=head.blueprint, say_meter=meter,
        metrics=dict(head.metrics), engine=head.engine, latency_ms=head.latency_ms, create_time=head.create_time,
        suggestions=tuple(_suggestion(row) for row in rows[1:]), engine_fallback=head.engine_fallback,
        model=head.model, language=head.language, language_supported=head.language_supported,
        findings=tuple(ContentFinding.from_record(record) for record in head.findings),
        trend=from_record(Trend, head.trend) if head.trend else NO_TREND,
        losing_prospect=from_record(ProspectAlert, head.losing_prospect) if head.losing_prospect else NO_ALERT,
    )


def _after_in_call_order(after: list[Any] | None) -> tuple[str, dict[str, Any]]:
    """Where a page of analyses in call order starts: after ``[up_to_sequence, create_time, analysis_id]``."""
    if not after:
        return "true", {}
    sequence, *stored_after = after
    condition, cursor = after_cursor(stored_after, key="(create_time, analysis_id)")
    return (f"(up_to_sequence > :after_sequence OR up_to_sequence = :after_sequence AND {condition})",
            {**cursor, "after_sequence": sequence})


def _after(condition: str, cursor: dict[str, Any]) -> sa.TextClause:
    return sa.text(condition).bindparams(**cursor)


def _of_session(organization: str, session_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return _rows.organization == organization, _rows.session_id == session_id


class AnalysisRepository:
    """Analyses and their suggestions (``analysis.voice_analysis``), each read and written within one
    organization."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, organization: str, analysis: NewAnalysis) -> StoredAnalysis | None:
        """Stores the analysis and its suggestions and returns it as a read of it would; None when one of the same
        trigger was stored first."""
        common = {"organization": organization, "analysis_id": analysis.id, "session_id": analysis.session_id,
                  "trigger_id": analysis.trigger_id, "trigger_source": analysis.trigger_source,
                  "up_to_sequence": analysis.up_to_sequence, "window_first": analysis.window_first,
                  "window_last": analysis.window_last,
                  "window_count": analysis.window_count, "blueprint": analysis.blueprint, "engine": analysis.engine,
                  "engine_fallback": analysis.engine_fallback, "model": analysis.model,
                  "latency_ms": analysis.latency_ms, "language": analysis.language,
                  "language_supported": analysis.language_supported}
        meter = analysis.say_meter
        create_time = await self._c.scalar(_INSERT_READING, {
            **common, "id": analysis.id, "kind": "say_meter", "position": 0, "meter_score": meter.score,
            "meter_factors": meter.factors, "meter_weights": meter.weights, "band": meter.band.value,
            "reasoning": meter.reasoning, "metrics": analysis.metrics, "call_measures": analysis.call_measures,
            "call_tally": analysis.call_tally.to_record() if analysis.call_tally else None,
            "findings": [finding.to_record() for finding in analysis.findings],
            "trend": to_record(analysis.trend), "losing_prospect": to_record(analysis.losing_prospect)})
        if create_time is None:
            return None
        if analysis.call_measures is not None:
            await self._c.execute(_FORGET_OLDER_MEASURES, {"of_organization": organization,
                                                           "of_session": analysis.session_id,
                                                           "below": analysis.up_to_sequence - KEEP_MEASURES_BACK})
        # Rows of one transaction share its now(): the suggestions' create_time is the reading's.
        suggestions = tuple(StoredSuggestion(_suggestion_id(organization, analysis, suggestion), analysis.id,
                                             analysis.session_id, suggestion, "open", create_time, position=position)
                            for position, suggestion in enumerate(analysis.suggestions, start=1))
        if suggestions:  # one executemany for all of them
            await self._c.execute(_INSERT_SUGGESTIONS, [{
                **common, "id": stored.id, "kind": stored.suggestion.type.value, "position": stored.position,
                "suggestion_text": stored.suggestion.text, "label": stored.suggestion.label,
                "switching_rule": stored.suggestion.switching_rule, "priority": stored.suggestion.priority.value,
                "state": stored.state, "cites": list(stored.suggestion.cites),
            } for stored in suggestions])
        return StoredAnalysis(
            id=analysis.id, session_id=analysis.session_id, trigger_id=analysis.trigger_id,
            trigger_source=analysis.trigger_source, up_to_sequence=analysis.up_to_sequence,
            window_first=analysis.window_first, window_last=analysis.window_last, window_count=analysis.window_count,
            blueprint=analysis.blueprint,
            say_meter=SayMeter(meter.score, meter.band, dict(meter.factors), dict(meter.weights), meter.reasoning),
            metrics=dict(analysis.metrics), engine=analysis.engine, latency_ms=analysis.latency_ms,
            create_time=create_time, suggestions=suggestions, engine_fallback=analysis.engine_fallback,
            model=analysis.model, language=analysis.language, language_supported=analysis.language_supported,
            findings=analysis.findings, trend=analysis.trend, losing_prospect=analysis.losing_prospect)

    async def get(self, organization: str, analysis_id: str) -> StoredAnalysis | None:
        groups = await self._groups(organization, [analysis_id])
        return _analysis(groups[analysis_id]) if analysis_id in groups else None

    async def by_trigger(self, organization: str, session_id: str, trigger_id: str) -> StoredAnalysis | None:
        analysis_id = await self._c.scalar(sa.select(_rows.analysis_id).where(
            *_of_session(organization, session_id), _rows.trigger_id == trigger_id, _rows.kind == "say_meter"))
        return await self.get(organization, analysis_id) if analysis_id else None

    async def reading_state(self, organization: str, session_id: str, trigger_id: str,
                            up_to_sequence: int) -> ReadingState:
        row = (await self._c.execute(_READING_STATE, {
            "organization": organization, "session_id": session_id, "trigger_id": trigger_id,
            "up_to_sequence": up_to_sequence})).one()
        kept = KeptMeasures(row.kept[0], running.from_record(row.kept[1]),
                            Tally.from_record(row.kept[2]) if row.kept[2] else None) if row.kept else None
        earlier: list[list[Any]] = row.earlier or []
        return ReadingState(row.existing, frozenset(row.made or ()), row.handoff_open, kept,
                            tuple(ScoreAt(sequence, score) for sequence, score, _ in earlier),
                            bool(earlier) and bool(earlier[0][2]))

    async def in_call_order(self, organization: str, session_id: str, source: str | None, after: list[Any] | None,
                            limit: int) -> list[StoredAnalysis]:
        condition, cursor = _after_in_call_order(after)
        keys = sa.select(_rows.analysis_id).where(
            *_of_session(organization, session_id), _rows.kind == "say_meter", _after(condition, cursor))
        if source:
            keys = keys.where(_rows.trigger_source == source)
        ids = list((await self._c.scalars(keys.order_by(*_CALL_ORDER).limit(limit))).all())
        # The whole page's rows in one read, not one read per analysis.
        groups = await self._groups(organization, ids)
        return [_analysis(groups[analysis_id]) for analysis_id in ids]

    async def say_meter_arc(self, organization: str, session_id: str, max_readings: int) -> SayMeterArc:
        """The first ``max_readings`` live readings' scores in call order, and the final reading's score."""
        readings = sa.select(_rows.meter_score).where(*_of_session(organization, session_id),
                                                      _rows.kind == "say_meter")
        live = await self._c.scalars(readings.where(_rows.trigger_source != SESSION_END)
                                     .order_by(*_CALL_ORDER).limit(max_readings))
        final = await self._c.scalar(readings.where(_rows.trigger_source == SESSION_END))
        return SayMeterArc(tuple(live), final)

    async def suggestion(self, organization: str, session_id: str, suggestion_id: str, *,
                         for_update: bool = False) -> StoredSuggestion | None:
        query = sa.select(t.voice_analysis).where(
            _rows.id == suggestion_id, *_of_session(organization, session_id), _IS_SUGGESTION)
        row = (await self._c.execute(query.with_for_update() if for_update else query)).first()
        return _suggestion(row) if row else None

    async def suggestions(self, organization: str, session_id: str, *, state: str | None, kind: str | None,
                          analysis_id: str | None, after: list[Any] | None, limit: int) -> list[StoredSuggestion]:
        """A session's suggestions in the order they were raised."""
        query = sa.select(t.voice_analysis).where(*_of_session(organization, session_id), _IS_SUGGESTION,
                                                  _after(*after_cursor(after, key=_SUGGESTION_ORDER)))
        for column, value in ((_rows.state, state), (_rows.kind, kind), (_rows.analysis_id, analysis_id)):
            if value:
                query = query.where(column == value)
        rows = (await self._c.execute(query.order_by(sa.text(_SUGGESTION_ORDER)).limit(limit))).all()
        return [_suggestion(row) for row in rows]

    async def resolve(self, organization: str, suggestion_id: str, state: str, *, command: str = "",
                      reason: str = "") -> StoredSuggestion:
        row = (await self._c.execute(
            sa.update(t.voice_analysis).where(_rows.organization == organization, _rows.id == suggestion_id)
            .values(state=state, command=command, dismiss_reason=reason, resolve_time=sa.func.now(),
                    revision=_rows.revision + 1)
            .returning(t.voice_analysis))).one()
        return _suggestion(row)

    async def snapshot(self, organization: str, session_id: str) -> Snapshot:
        session = _of_session(organization, session_id)
        readings = (await self._c.execute(
            sa.select(_rows.analysis_id, _rows.window_last, _rows.meter_score, _rows.create_time, _rows.trigger_source)
            .where(*session, _rows.kind == "say_meter").order_by(*_CALL_ORDER))).all()
        history = [ScorePoint(*row[:4]) for row in readings]
        open_rows = (await self._c.execute(
            sa.select(t.voice_analysis).where(*session, _IS_SUGGESTION, _rows.state == "open")
            .order_by(sa.text(_SUGGESTION_ORDER)))).all()
        latest = await self.get(organization, history[-1].analysis_id) if history else None
        return Snapshot(session_id, latest, history, [_suggestion(row) for row in open_rows],
                        final_reading=any(row.trigger_source == SESSION_END for row in readings))

    async def _groups(self, organization: str, analysis_ids: list[str]) -> dict[str, list[Any]]:
        """Each analysis's rows: its say_meter row first (position 0), then its suggestions in the order raised."""
        rows = (await self._c.execute(sa.select(t.voice_analysis).where(_rows.organization == organization,
                                                                        _rows.analysis_id.in_(analysis_ids))
                                      .order_by(_rows.analysis_id, _rows.position))).all()
        groups: dict[str, list[Any]] = {}
        for row in rows:
            groups.setdefault(row.analysis_id, []).append(row)
        return groups


def stored_audit(row: Any) -> StoredAudit:
    return StoredAudit(row.id, row.session_id, row.persona, row.persona_display_name, row.blueprint,
                       from_record(PersonaAudit, row.audit), row.delivery_state, row.delivery_attempts,
                       row.last_delivery_error, row.deliver_time, row.create_time, row.engine, row.engine_fallback)


class AuditRepository:
    """Post-call persona audits (``analysis.persona_audits``), each read and written within one organization."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, organization: str, audit: NewAudit) -> bool:
        """Stores the audit; False when the session already had one of its persona."""
        inserted = (await self._c.execute(insert(t.persona_audits).values(
            id=audit.id, organization=organization, session_id=audit.session_id, persona=audit.persona,
            persona_display_name=audit.persona_display_name, blueprint=audit.blueprint,
            audit=to_record(audit.audit), engine=audit.engine, engine_fallback=audit.engine_fallback,
            first_sequence=audit.first_sequence,
        ).on_conflict_do_nothing(index_elements=[_audits.organization, _audits.session_id, _audits.persona])
            .returning(_audits.id))).first()
        return inserted is not None

    async def get(self, organization: str, audit_id: str) -> StoredAudit | None:
        row = (await self._c.execute(sa.select(t.persona_audits).where(
            _audits.organization == organization, _audits.id == audit_id))).first()
        return stored_audit(row) if row else None

    async def of_session(self, organization: str, session_id: str) -> StoredAudit | None:
        """The audit of the persona that started the call (a handed-over call has one per persona)."""
        row = (await self._c.execute(sa.select(t.persona_audits).where(
            _audits.organization == organization, _audits.session_id == session_id,
        ).order_by(_audits.first_sequence).limit(1))).first()
        return stored_audit(row) if row else None

    async def newest_first(self, organization: str, *, session_id: str | None, persona: str | None,
                           archetype: str | None, delivery_state: str | None, after: list[Any] | None,
                           limit: int) -> list[StoredAudit]:
        query = sa.select(t.persona_audits).where(_audits.organization == organization,
                                                  _after(*after_cursor(after, newest_first=True)))
        for column, value in ((_audits.session_id, session_id), (_audits.persona, persona),
                              (_audits.delivery_state, delivery_state), (_audits.audit["archetype"].astext, archetype)):
            if value:
                query = query.where(column == value)
        rows = (await self._c.execute(
            query.order_by(_audits.create_time.desc(), _audits.id.desc()).limit(limit))).all()
        return [stored_audit(row) for row in rows]


def _suggestion_id(organization: str, analysis: NewAnalysis, suggestion: Suggestion) -> str:
    if suggestion.switching_rule:
        return rule_suggestion_id(organization, analysis.session_id, analysis.trigger_id, suggestion.switching_rule)
    return str(uuid.uuid4())
