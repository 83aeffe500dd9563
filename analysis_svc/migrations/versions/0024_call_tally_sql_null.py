"""A reading without a track tally stored it as a JSON null; it is SQL NULL, as the repository now writes it.

Revision ID: 0024
Revises: 0023
"""

from svckit.migrations import execute_script

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
        UPDATE analysis.voice_analysis SET call_tally = NULL WHERE jsonb_typeof(call_tally) = 'null';
        UPDATE analysis.voice_analysis SET call_measures = NULL WHERE jsonb_typeof(call_measures) = 'null';
    """)


def downgrade() -> None:
    """Nothing to restore: a JSON null and SQL NULL read the same."""
