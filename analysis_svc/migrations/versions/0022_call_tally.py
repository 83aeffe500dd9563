"""The tally of the call a reading of a track with its own rubric scored (analysis_svc.domain.tracks), kept on the
reading's Say Meter row so the next reading adds only what its messages changed.

Rows written before this revision have none: a later reading of their call tallies from its own window on.

Revision ID: 0022
Revises: 0021
"""

from svckit.migrations import execute_script

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE analysis.voice_analysis ADD COLUMN call_tally jsonb;")


def downgrade() -> None:
    execute_script("ALTER TABLE analysis.voice_analysis DROP COLUMN call_tally;")
