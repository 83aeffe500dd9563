"""Handoffs of a live call from one persona to another: the handoff table with its packet, the session's current
persona ('' while it is the persona the call started with), and the packet a HANDOFF command carries.

Revision ID: 0008
Revises: 0007
"""

from svckit.migrations import execute_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
        ALTER TABLE transcript.sessions ADD COLUMN current_persona text NOT NULL DEFAULT '';
        ALTER TABLE transcript.commands ADD COLUMN handoff jsonb;
        CREATE TABLE transcript.handoffs (
            organization text NOT NULL,
            session_id text NOT NULL,
            id text NOT NULL,
            position bigserial NOT NULL,
            state text NOT NULL,
            command_id text NOT NULL,
            packet jsonb NOT NULL,
            first_sequence bigint NOT NULL DEFAULT 0,
            create_time timestamptz NOT NULL,
            update_time timestamptz NOT NULL,
            PRIMARY KEY (organization, session_id, id),
            FOREIGN KEY (organization, session_id) REFERENCES transcript.sessions (organization, id)
        );
        -- At most one handoff of a session waits for the gateway at a time.
        CREATE UNIQUE INDEX handoffs_one_pending ON transcript.handoffs (organization, session_id)
            WHERE state = 'pending';
        CREATE INDEX handoffs_by_command ON transcript.handoffs (organization, session_id, command_id);
    """)


def downgrade() -> None:
    execute_script("""
        DROP TABLE transcript.handoffs;
        ALTER TABLE transcript.commands DROP COLUMN handoff;
        ALTER TABLE transcript.sessions DROP COLUMN current_persona;
    """)
