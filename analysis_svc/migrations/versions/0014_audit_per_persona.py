"""A call handed from one persona to another is audited once per persona, each against its own profile: the
audits of a session are unique by persona, and each says the first message its persona played.

Revision ID: 0014
Revises: 0013
"""

from svckit.migrations import execute_script

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
        ALTER TABLE analysis.persona_audits ADD COLUMN first_sequence bigint NOT NULL DEFAULT 1;
        ALTER TABLE analysis.persona_audits DROP CONSTRAINT persona_audits_session;
        ALTER TABLE analysis.persona_audits ADD CONSTRAINT persona_audits_session_persona
            UNIQUE (organization, session_id, persona);
    """)


def downgrade() -> None:
    execute_script("""
        DELETE FROM analysis.persona_audits WHERE first_sequence > 1;
        ALTER TABLE analysis.persona_audits DROP CONSTRAINT persona_audits_session_persona;
        ALTER TABLE analysis.persona_audits ADD CONSTRAINT persona_audits_session UNIQUE (organization, session_id);
        ALTER TABLE analysis.persona_audits DROP COLUMN first_sequence;
    """)
