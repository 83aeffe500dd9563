"""Which engine produced an audit, and whether `local` stood in for a failed `openai`.

Audits written before this revision were all the local auditor's: 'local', no fall-back.

Revision ID: 0006
Revises: 0005
"""

from svckit.migrations import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE analysis.persona_audits
            ADD COLUMN engine text NOT NULL DEFAULT 'local' CHECK (engine IN ('local', 'openai')),
            ADD COLUMN engine_fallback boolean NOT NULL DEFAULT false;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        ALTER TABLE analysis.persona_audits DROP COLUMN engine_fallback, DROP COLUMN engine;
        """
    )
