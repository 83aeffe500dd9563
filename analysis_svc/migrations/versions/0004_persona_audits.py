"""Post-call persona audits, kept until the learning service has stored them.

Revision ID: 0004
Revises: 0003
"""

from svckit.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE analysis.persona_audits (
            id text PRIMARY KEY,
            session_id text NOT NULL UNIQUE,
            persona text NOT NULL,
            persona_display_name text NOT NULL,
            blueprint text NOT NULL,
            audit jsonb NOT NULL,
            -- 'pending' until the learning service has stored it; never dropped.
            delivery_state text NOT NULL DEFAULT 'pending',
            delivery_attempts integer NOT NULL DEFAULT 0,
            last_delivery_error text NOT NULL DEFAULT '',
            deliver_time timestamptz,
            create_time timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX persona_audits_pending ON analysis.persona_audits (create_time) WHERE delivery_state = 'pending';
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE analysis.persona_audits;")
