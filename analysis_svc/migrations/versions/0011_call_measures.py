"""The measures of the whole call up to each live reading, kept with its Say Meter row.

The next reading of the session starts from them and adds only what the messages since then changed, so the Say
Meter follows the whole call at the cost of a window. Rows written before this revision have none: the next
reading starts from its own window.

Revision ID: 0011
Revises: 0010
"""

from svckit.migrations import execute_script

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE analysis.voice_analysis ADD COLUMN call_measures jsonb;")


def downgrade() -> None:
    execute_script("ALTER TABLE analysis.voice_analysis DROP COLUMN call_measures;")
