"""Voice rounds of sessions: at most one live (not ended) round per session, held by a unique index.

Revision ID: 0007
Revises: 0006
"""

from svckit.migrations import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE transcript.voice_rounds (
            organization text NOT NULL,
            session_id text NOT NULL,
            round_number integer NOT NULL,
            provider text NOT NULL,
            voice_agent text NOT NULL,
            provider_agent_id text NOT NULL,
            signed_url text NOT NULL,
            access_token text NOT NULL,
            agent_reused boolean NOT NULL,
            start_time timestamptz NOT NULL,
            end_time timestamptz,
            PRIMARY KEY (organization, session_id, round_number),
            FOREIGN KEY (organization, session_id) REFERENCES transcript.sessions (organization, id)
        );
        CREATE UNIQUE INDEX voice_rounds_one_live ON transcript.voice_rounds (organization, session_id)
            WHERE end_time IS NULL;
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE transcript.voice_rounds;")
