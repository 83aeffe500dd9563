"""A deletion of a voice agent records when it was done or given up, so clean-up can remove those done long ago;
those finished before this count as finished at their last attempt.

Revision ID: 0012
Revises: 0011
"""

from svckit.migrations import execute_script

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE persona.voice_agent_deletions ADD COLUMN finish_time timestamptz;
        UPDATE persona.voice_agent_deletions SET finish_time = next_attempt_time WHERE state <> 'pending';
        CREATE INDEX voice_agent_deletions_done ON persona.voice_agent_deletions (finish_time) WHERE state = 'done';
        """
    )


def downgrade() -> None:
    execute_script("ALTER TABLE persona.voice_agent_deletions DROP COLUMN finish_time;")
