"""A session keeps the experiment that assigned it a variant at creation, and that variant ('' for none).

Revision ID: 0010
Revises: 0009
"""

from svckit.migrations import execute_script

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE transcript.sessions ADD COLUMN experiment text NOT NULL DEFAULT '', "
                   "ADD COLUMN experiment_variant text NOT NULL DEFAULT '';")


def downgrade() -> None:
    execute_script("ALTER TABLE transcript.sessions DROP COLUMN experiment, DROP COLUMN experiment_variant;")
