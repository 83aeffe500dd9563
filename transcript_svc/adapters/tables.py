"""Tables of the ``transcript`` schema (SQLAlchemy Core; the DDL lives in migrations/)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from svckit.db import request_log_table

SCHEMA = "transcript"
metadata = sa.MetaData(schema=SCHEMA)
_TS = sa.DateTime(timezone=True)

# Session ids are unique per organization: the organization leads every key that names a session.
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("persona", sa.Text, nullable=False),
    sa.Column("scenario", sa.Text, nullable=False),
    sa.Column("blueprint", sa.Text, nullable=False),
    sa.Column("round_number", sa.Integer, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("persona_revision", sa.BigInteger, nullable=False),
    sa.Column("analysis_interval", sa.Integer, nullable=False),
    sa.Column("start_time", _TS, nullable=False),
    sa.Column("end_time", _TS),
    sa.Column("end_reason", sa.Text, nullable=False),
    sa.Column("last_sequence", sa.BigInteger, nullable=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("update_time", _TS, nullable=False),
    sa.Column("stream_epoch", sa.BigInteger, nullable=False),
    sa.Column("interviewer", sa.Text, nullable=False),
    sa.Column("gateway", sa.Text, nullable=False),
    sa.Column("candidate", sa.Text, nullable=False),
    sa.Column("current_persona", sa.Text, nullable=False),
    sa.Column("experiment", sa.Text, nullable=False),
    sa.Column("experiment_variant", sa.Text, nullable=False),
    sa.Column("risk_score", sa.Integer, nullable=False),
    sa.Column("risk_alert_time", _TS),
)

messages = sa.Table(
    "messages", metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("sequence", sa.BigInteger, primary_key=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("spoken_time", _TS, nullable=False),
    sa.Column("word_count", sa.Integer, nullable=False),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("flags", JSONB, nullable=False),
)

commands = sa.Table(
    "commands", metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("position", sa.BigInteger),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("new_difficulty", sa.Integer, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("suggestion", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("delivery_count", sa.Integer, nullable=False),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("deliver_time", _TS),
    sa.Column("acknowledge_time", _TS),
    sa.Column("handoff", JSONB),
    sa.Column("approval", sa.Text, nullable=False),
)

handoffs = sa.Table(
    "handoffs", metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("position", sa.BigInteger),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("command_id", sa.Text, nullable=False),
    sa.Column("packet", JSONB, nullable=False),
    sa.Column("first_sequence", sa.BigInteger, nullable=False),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("update_time", _TS, nullable=False),
)

approvals = sa.Table(
    "approvals", metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("requester", sa.Text, nullable=False),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("policy_revision", sa.BigInteger, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("expire_time", _TS, nullable=False),
    sa.Column("decider", sa.Text, nullable=False),
    sa.Column("decide_time", _TS),
    sa.Column("decision_reason", sa.Text, nullable=False),
    sa.Column("escalated_to", sa.Text, nullable=False),
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("organization", sa.Text, nullable=False),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("up_to_sequence", sa.BigInteger, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_time", _TS, nullable=False),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("done_time", _TS),
)

guardrail_checks = sa.Table(
    "guardrail_checks", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("organization", sa.Text, nullable=False),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("persona", sa.Text, nullable=False),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("policy_revision", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("decision", sa.Text, nullable=False),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("create_time", _TS, nullable=False),
)

request_log = request_log_table(metadata, per_organization=True)
