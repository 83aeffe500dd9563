"""A session may name its candidate, whose memory the persona keeps across rounds ('' for none).

Revision ID: 0006
Revises: 0005
"""

from svckit.migrations import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE transcript.sessions ADD COLUMN candidate text NOT NULL DEFAULT '';")


def downgrade() -> None:
    execute_script("ALTER TABLE transcript.sessions DROP COLUMN candidate;")
