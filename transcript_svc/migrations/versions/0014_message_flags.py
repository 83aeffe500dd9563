"""The output filters that matched a persona turn, stored with it (a JSON list of {rule, blocked}); rows stored
before this revision carry none.

Revision ID: 0014
Revises: 0013
"""

from svckit.migrations import execute_script

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE transcript.messages ADD COLUMN flags jsonb NOT NULL DEFAULT '[]';")


def downgrade() -> None:
    execute_script("ALTER TABLE transcript.messages DROP COLUMN flags;")
