"""The language each reading found the call held in, and whether the engine that read it understands it.

Rows written before this revision are taken as English and understood, as every reading then was.

Revision ID: 0012
Revises: 0011
"""

from svckit.migrations import execute_script

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE analysis.voice_analysis ADD COLUMN language text NOT NULL DEFAULT 'en';
        ALTER TABLE analysis.voice_analysis ADD COLUMN language_supported boolean NOT NULL DEFAULT true;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        ALTER TABLE analysis.voice_analysis DROP COLUMN language;
        ALTER TABLE analysis.voice_analysis DROP COLUMN language_supported;
        """
    )
