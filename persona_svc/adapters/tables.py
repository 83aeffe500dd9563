"""Tables of the ``persona`` schema (SQLAlchemy Core; the DDL lives in migrations/)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR

from svckit.db import request_log_table

SCHEMA = "persona"
metadata = sa.MetaData(schema=SCHEMA)

archetypes = sa.Table(
    "archetypes",
    metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("voice_guidance", sa.Text, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)

personas = sa.Table(
    "personas",
    metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("slug", sa.Text, nullable=False),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("blueprint", sa.Text, nullable=False),
    sa.Column("difficulty", sa.SmallInteger, nullable=False),
    sa.Column("archetype_id", sa.Text),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("protected", sa.Boolean, nullable=False),
    sa.Column("domains", ARRAY(sa.Text), nullable=False),
    sa.Column("fields", JSONB, nullable=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delete_time", sa.DateTime(timezone=True)),
    sa.Column("search_vector", TSVECTOR),
    sa.Column("search_text", sa.Text),
    sa.UniqueConstraint("organization", "slug"),
    sa.ForeignKeyConstraint(["organization", "archetype_id"], ["archetypes.organization", "archetypes.id"]),
)

persona_versions = sa.Table(
    "persona_versions",
    metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("persona_id", sa.Text, primary_key=True),
    sa.Column("revision", sa.BigInteger, primary_key=True),
    sa.Column("change_kind", sa.Text, nullable=False),
    sa.Column("restored_revision", sa.BigInteger, nullable=False),
    sa.Column("snapshot", JSONB, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("promotion", JSONB),
    sa.ForeignKeyConstraint(["organization", "persona_id"], ["personas.organization", "personas.id"]),
)

scenarios = sa.Table(
    "scenarios",
    metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("industry", sa.Text, nullable=False),
    sa.Column("fields", JSONB, nullable=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("creator", sa.Text, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

# The last set of active patches the learning service gave for each persona, applied when it does not answer.
last_known_patches = sa.Table(
    "last_known_patches",
    metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("persona", sa.Text, primary_key=True),  # "personas/{id}"
    sa.Column("active_set_etag", sa.Text, nullable=False),
    sa.Column("patches", JSONB, nullable=False),  # [{"name", "target", "text", "change"}], in the order given
    sa.Column("confirm_time", sa.DateTime(timezone=True), nullable=False),
)

request_log = request_log_table(metadata, per_organization=True)

memory_settings = sa.Table(
    "memory_settings",
    metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),  # the persona's
    sa.Column("persistence", sa.Text, nullable=False),
    sa.Column("retention_days", sa.Integer, nullable=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

working_memories = sa.Table(
    "working_memories",
    metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("persona_id", sa.Text, primary_key=True),
    sa.Column("candidate_id", sa.Text, primary_key=True),
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("content", JSONB, nullable=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_access_time", sa.DateTime(timezone=True), nullable=False),
)

working_memory_revisions = sa.Table(
    "working_memory_revisions",
    metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("persona_id", sa.Text, primary_key=True),
    sa.Column("candidate_id", sa.Text, primary_key=True),
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("revision", sa.BigInteger, primary_key=True),
    sa.Column("change", sa.Text, nullable=False),
    sa.Column("changed_paths", ARRAY(sa.Text), nullable=False),
    sa.Column("restored_revision", sa.BigInteger, nullable=False),
    sa.Column("snapshot", JSONB, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)

facts = sa.Table(
    "facts",
    metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("persona_id", sa.Text, primary_key=True),
    sa.Column("candidate_id", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("message_sequences", ARRAY(sa.BigInteger), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("engine", sa.Text, nullable=False),
    sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
    sa.Column("valid_until", sa.DateTime(timezone=True)),
    sa.Column("superseded_by", sa.Text, nullable=False),
)

episodes = sa.Table(
    "episodes",
    metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("persona_id", sa.Text, primary_key=True),
    sa.Column("candidate_id", sa.Text, primary_key=True),
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("search_vector", TSVECTOR),  # generated from document
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)

# The analysis service's review of a persona's call, joined to its episode by persona and session.
episode_reviews = sa.Table(
    "episode_reviews",
    metadata,
    sa.Column("organization", sa.Text, primary_key=True),
    sa.Column("persona_id", sa.Text, primary_key=True),
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("say_meter_scores", ARRAY(sa.Integer), nullable=False),
    sa.Column("final_say_meter", sa.Integer),
    sa.Column("audit", sa.Text, nullable=False),
    sa.Column("overall_score", sa.Float, nullable=False),
    sa.Column("flags", JSONB, nullable=False),
    sa.Column("record_time", sa.DateTime(timezone=True), nullable=False),
)
