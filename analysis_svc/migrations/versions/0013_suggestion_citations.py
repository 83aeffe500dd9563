"""The messages each suggestion answers: their sequences in the call, in call order.

Suggestions raised before this revision cite nothing (an empty array).

Revision ID: 0013
Revises: 0012
"""

from svckit.migrations import execute_script

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE analysis.voice_analysis ADD COLUMN cites bigint[] NOT NULL DEFAULT '{}';")


def downgrade() -> None:
    execute_script("ALTER TABLE analysis.voice_analysis DROP COLUMN cites;")
