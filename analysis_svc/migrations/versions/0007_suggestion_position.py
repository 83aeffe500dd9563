"""Each row's place in its analysis: the Say Meter first, then the suggestions in the order they were raised.

0 for the Say Meter, then 1, 2, ... for the suggestions. All rows of an analysis are written in one
transaction and share its create_time, so without it their order was their random ids'.

Rows written before this revision get their places in that id order: the order they were raised in was not kept.

Revision ID: 0007
Revises: 0006
"""

from svckit.migrations import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE analysis.voice_analysis ADD COLUMN position smallint NOT NULL DEFAULT 0 CHECK (position >= 0);
        UPDATE analysis.voice_analysis AS row SET position = ranked.position
            FROM (SELECT id, row_number() OVER (PARTITION BY analysis_id ORDER BY kind <> 'say_meter', id) - 1
                      AS position
                  FROM analysis.voice_analysis) AS ranked
            WHERE row.id = ranked.id AND ranked.position > 0;
        DROP INDEX analysis.voice_analysis_group;
        CREATE UNIQUE INDEX voice_analysis_group ON analysis.voice_analysis (analysis_id, position);
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP INDEX analysis.voice_analysis_group;
        CREATE INDEX voice_analysis_group ON analysis.voice_analysis (analysis_id);
        ALTER TABLE analysis.voice_analysis DROP COLUMN position;
        """
    )
