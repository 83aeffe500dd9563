"""What became of a suggestion (applied as a command, or dismissed), and the request log.

Revision ID: 0003
Revises: 0002
"""

from svckit.migrations import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE analysis.voice_analysis
            ADD COLUMN command text NOT NULL DEFAULT '',
            ADD COLUMN dismiss_reason text NOT NULL DEFAULT '',
            ADD COLUMN resolved_by text NOT NULL DEFAULT '',
            ADD COLUMN resolve_time timestamptz,
            ADD COLUMN revision bigint NOT NULL DEFAULT 1;
        CREATE TABLE analysis.request_log (
            request_id text PRIMARY KEY,
            method text NOT NULL,
            fingerprint text NOT NULL,
            response jsonb,
            create_time timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE analysis.request_log;
        ALTER TABLE analysis.voice_analysis DROP COLUMN command, DROP COLUMN dismiss_reason,
            DROP COLUMN resolved_by, DROP COLUMN resolve_time, DROP COLUMN revision;
        """
    )
