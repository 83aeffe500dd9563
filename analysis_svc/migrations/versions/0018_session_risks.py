"""A session's risk as the transcript service keeps it (score 0 to 100, when it alerted), for its snapshot and
watchers.

Revision ID: 0018
Revises: 0017
"""

from svckit.migrations import execute_script

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE analysis.session_risks (
            organization text NOT NULL,
            session_id text NOT NULL,
            score integer NOT NULL,
            alert_time timestamptz,
            update_time timestamptz NOT NULL,
            PRIMARY KEY (organization, session_id)
        );
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE analysis.session_risks;")
