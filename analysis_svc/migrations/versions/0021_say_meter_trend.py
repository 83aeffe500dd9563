"""The Say Meter's trend at each reading, and the "losing the prospect" alert as that reading left it
(analysis_svc.domain.trend), on the reading's Say Meter row.

Rows written before this revision have neither: their scores still make the next readings' trend, and the alert is
taken as off at them.

Revision ID: 0021
Revises: 0020
"""

from svckit.migrations import execute_script

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE analysis.voice_analysis ADD COLUMN trend jsonb;
        ALTER TABLE analysis.voice_analysis ADD COLUMN losing_prospect jsonb;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        ALTER TABLE analysis.voice_analysis DROP COLUMN trend;
        ALTER TABLE analysis.voice_analysis DROP COLUMN losing_prospect;
        """
    )
