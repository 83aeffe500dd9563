"""A persona version may record the experiment that promoted a variant of the persona (its provenance), once per
experiment.

Revision ID: 0011
Revises: 0010
"""

from svckit.migrations import execute_script

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
        ALTER TABLE persona.persona_versions ADD COLUMN promotion jsonb;
        CREATE UNIQUE INDEX persona_versions_promotion ON persona.persona_versions
            (organization, persona_id, (promotion->>'experiment')) WHERE promotion IS NOT NULL;
    """)


def downgrade() -> None:
    execute_script("""
        DROP INDEX persona.persona_versions_promotion;
        ALTER TABLE persona.persona_versions DROP COLUMN promotion;
    """)
