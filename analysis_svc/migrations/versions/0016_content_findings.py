"""What the persona's input filters found in the candidate's messages each reading screened (a JSON list of
findings on the reading's Say Meter row).

Rows written before this revision found nothing: no filter ran then.

Revision ID: 0016
Revises: 0015
"""

from svckit.migrations import execute_script

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE analysis.voice_analysis ADD COLUMN findings jsonb NOT NULL DEFAULT '[]';")


def downgrade() -> None:
    execute_script("ALTER TABLE analysis.voice_analysis DROP COLUMN findings;")
