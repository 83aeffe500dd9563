"""When an undelivered audit is next offered to the learning service.

Revision ID: 0005
Revises: 0004
"""

from svckit.migrations import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE analysis.persona_audits ADD COLUMN next_attempt_time timestamptz NOT NULL DEFAULT now();
        DROP INDEX analysis.persona_audits_pending;
        CREATE INDEX persona_audits_due ON analysis.persona_audits (next_attempt_time)
            WHERE delivery_state = 'pending';
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP INDEX analysis.persona_audits_due;
        ALTER TABLE analysis.persona_audits DROP COLUMN next_attempt_time;
        CREATE INDEX persona_audits_pending ON analysis.persona_audits (create_time)
            WHERE delivery_state = 'pending';
        """
    )
