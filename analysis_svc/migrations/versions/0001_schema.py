"""The analysis schema; its tables arrive with the service's implementation.

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
