"""Whether a session's risk reached its policy's risk threshold (shown as at risk), as the transcript service
delivers it.

Revision ID: 0020
Revises: 0019
"""

from svckit.migrations import execute_script

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE analysis.session_risks ADD COLUMN at_risk boolean NOT NULL DEFAULT false;")


def downgrade() -> None:
    execute_script("ALTER TABLE analysis.session_risks DROP COLUMN at_risk;")
