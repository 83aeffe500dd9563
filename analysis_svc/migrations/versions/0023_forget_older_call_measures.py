"""Readings keep the call's measures only near their session's newest reading (the repository's
KEEP_MEASURES_BACK, 50 messages at this revision): the copies kept by a long call's earlier readings, which nothing
reads again, are cleared. A reading that would have built on one reads its call back instead.

Revision ID: 0023
Revises: 0022
"""

from svckit.migrations import execute_script

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
        UPDATE analysis.voice_analysis AS reading SET call_measures = NULL, call_tally = NULL
        FROM (SELECT organization, session_id, max(up_to_sequence) AS newest FROM analysis.voice_analysis
              WHERE kind = 'say_meter' AND call_measures IS NOT NULL GROUP BY organization, session_id) AS session
        WHERE reading.organization = session.organization AND reading.session_id = session.session_id
          AND reading.kind = 'say_meter' AND reading.call_measures IS NOT NULL
          AND reading.up_to_sequence < session.newest - 50;
    """)


def downgrade() -> None:
    """Nothing to restore: cleared measures are rebuilt by reading the call back."""
