"""Voice rounds name the persona whose agent speaks in them, why they ended, and the handoff that opened them (a
handoff during a live round moves the call to the new persona's agent, in the next round). Rounds made before
this play the session's first persona; why they ended is not known.

Revision ID: 0011
Revises: 0010
"""

from svckit.migrations import execute_script

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE transcript.voice_rounds
            ADD COLUMN persona text NOT NULL DEFAULT '',
            ADD COLUMN end_reason text,
            ADD COLUMN handoff text NOT NULL DEFAULT '';
        UPDATE transcript.voice_rounds AS r SET persona = s.persona
            FROM transcript.sessions AS s WHERE s.organization = r.organization AND s.id = r.session_id;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        ALTER TABLE transcript.voice_rounds DROP COLUMN persona, DROP COLUMN end_reason, DROP COLUMN handoff;
        """
    )
