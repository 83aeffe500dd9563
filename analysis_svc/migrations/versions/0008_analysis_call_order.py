"""The sequence each analysis was triggered at, which orders a session's analyses whatever order they finish in.

up_to_sequence is the trigger's (0 in a request means the last durable message, stored as that message's
sequence). Analyses finish in any order when a session's triggers overlap, so ordering by create_time let a
late reading of an earlier point stand as the latest one.

Rows written before this revision take their window's last sequence: the trigger's own sequence was not kept,
and the window ends there unless messages were missing.

Revision ID: 0008
Revises: 0007
"""

from svckit.migrations import execute_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE analysis.voice_analysis ADD COLUMN up_to_sequence bigint;
        UPDATE analysis.voice_analysis SET up_to_sequence = coalesce(window_last, 0);
        ALTER TABLE analysis.voice_analysis ALTER COLUMN up_to_sequence SET NOT NULL;
        CREATE INDEX voice_analysis_call_order ON analysis.voice_analysis
            (session_id, up_to_sequence, create_time, analysis_id) WHERE kind = 'say_meter';
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP INDEX analysis.voice_analysis_call_order;
        ALTER TABLE analysis.voice_analysis DROP COLUMN up_to_sequence;
        """
    )
