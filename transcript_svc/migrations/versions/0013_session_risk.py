"""A session's risk: the score its guardrail checks added up to (0 to 100), and when it first reached its policy's
escalation threshold.

Revision ID: 0013
Revises: 0012
"""

from svckit.migrations import execute_script

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE transcript.sessions ADD COLUMN risk_score integer NOT NULL DEFAULT 0, "
                   "ADD COLUMN risk_alert_time timestamptz;")


def downgrade() -> None:
    execute_script("ALTER TABLE transcript.sessions DROP COLUMN risk_score, DROP COLUMN risk_alert_time;")
