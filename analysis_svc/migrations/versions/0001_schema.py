"""The analysis schema itself; its tables come in the revisions that follow.

Revision ID: 0001
Revises:
"""

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The schema itself is created before migrations run; the version table lives in it."""


def downgrade() -> None:
    """Nothing to undo."""
