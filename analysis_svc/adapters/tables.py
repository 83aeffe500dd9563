"""Tables of the ``analysis`` schema (SQLAlchemy Core; the DDL lives in migrations/)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from svckit.db import request_log_table

SCHEMA = "analysis"
metadata = sa.MetaData(schema=SCHEMA)

# One row per Say Meter reading (kind 'say_meter', holding the analysis itself) and one per suggestion it raised
# (kind = the suggestion type), grouped by analysis_id, each at its position: the Say Meter 0, the suggestions 1, 2...
voice_analysis = sa.Table(
    "voice_analysis",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("organization", sa.Text, nullable=False),
    sa.Column("analysis_id", sa.Text, nullable=False),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("position", sa.SmallInteger, nullable=False),
    sa.Column("meter_score", sa.Integer),
    sa.Column("meter_factors", JSONB),
    sa.Column("meter_weights", JSONB),
    sa.Column("band", sa.Text),
    sa.Column("reasoning", sa.Text),
    sa.Column("metrics", JSONB),
    # The whole call's measures up to this reading (analysis_svc.domain.running), and its track's tally, for a track
    # with its own rubric (domain.tracks); None is SQL NULL, as the queries that look for kept measures read it.
    sa.Column("call_measures", JSONB(none_as_null=True)),
    sa.Column("call_tally", JSONB(none_as_null=True)),
    sa.Column("language", sa.Text, nullable=False, server_default="en"),  # ISO 639-1, "" when undetermined
    sa.Column("language_supported", sa.Boolean, nullable=False, server_default=sa.true()),
    # The input filters' findings (analysis_svc.domain.content_findings), on the Say Meter row.
    sa.Column("findings", JSONB, nullable=False, server_default="[]"),
    # The Say Meter's trend and the "losing the prospect" alert at this reading (analysis_svc.domain.trend).
    sa.Column("trend", JSONB),
    sa.Column("losing_prospect", JSONB),
    sa.Column("trigger_id", sa.Text),
    sa.Column("trigger_source", sa.Text),
    sa.Column("up_to_sequence", sa.BigInteger, nullable=False),
    sa.Column("window_first", sa.BigInteger),
    sa.Column("window_last", sa.BigInteger),
    sa.Column("window_count", sa.Integer),
    sa.Column("blueprint", sa.Text),
    sa.Column("engine", sa.Text),
    sa.Column("engine_fallback", sa.Boolean),
    sa.Column("model", sa.Text),
    sa.Column("latency_ms", sa.Float),
    sa.Column("suggestion_text", sa.Text),
    sa.Column("label", sa.Text),
    sa.Column("switching_rule", sa.Text, nullable=False),
    sa.Column("priority", sa.Text),
    sa.Column("cites", ARRAY(sa.BigInteger), nullable=False, server_default="{}"),  # a suggestion's messages
    sa.Column("state", sa.Text),
    sa.Column("command", sa.Text, nullable=False),
    sa.Column("dismiss_reason", sa.Text, nullable=False),
    sa.Column("resolve_time", sa.DateTime(timezone=True)),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# One audit per ended session; 'pending' until the learning service has stored it (an outbox of its own).
persona_audits = sa.Table(
    "persona_audits",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("organization", sa.Text, nullable=False),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("persona", sa.Text, nullable=False),
    sa.Column("persona_display_name", sa.Text, nullable=False),
    sa.Column("blueprint", sa.Text, nullable=False),
    sa.Column("audit", JSONB, nullable=False),
    sa.Column("engine", sa.Text, nullable=False),
    sa.Column("engine_fallback", sa.Boolean, nullable=False),
    sa.Column("first_sequence", sa.BigInteger, nullable=False),
    sa.Column("delivery_state", sa.Text, nullable=False),
    sa.Column("delivery_attempts", sa.Integer, nullable=False),
    sa.Column("last_delivery_error", sa.Text, nullable=False),
    sa.Column("next_attempt_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deliver_time", sa.DateTime(timezone=True)),
    # Delivery to the persona's memory, as the review of the call's episode (a second outbox).
    sa.Column("review_state", sa.Text, nullable=False, server_default="pending"),
    sa.Column("review_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("review_last_error", sa.Text, nullable=False, server_default=""),
    sa.Column("review_next_attempt_time", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("review_time", sa.DateTime(timezone=True)),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("organization", "session_id", name="persona_audits_session"),
)

request_log = request_log_table(metadata, per_organization=True)

session_risks = sa.Table(
    "session_risks", metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("alert_time", sa.DateTime(timezone=True)),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("at_risk", sa.Boolean, nullable=False),
)

switching_rules = sa.Table(
    "switching_rules", metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("from_persona", sa.Text, nullable=False),
    sa.Column("to_persona", sa.Text, nullable=False),
    sa.Column("fallback_personas", ARRAY(sa.Text), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("pattern", sa.Text, nullable=False),
    sa.Column("say_meter_below", sa.Integer, nullable=False),
    sa.Column("stage", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("auto_apply", sa.Boolean, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delete_time", sa.DateTime(timezone=True)),
)
