"""Safety policies: the one written for a persona (or, with an empty persona_id, an organization's default) and
every version of it.

Revision ID: 0010
Revises: 0009
"""

from svckit.migrations import execute_script

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE persona.safety_policies (
            organization text NOT NULL,
            persona_id text NOT NULL,
            revision bigint NOT NULL,
            fields jsonb NOT NULL,
            update_time timestamptz NOT NULL,
            PRIMARY KEY (organization, persona_id)
        );
        CREATE TABLE persona.safety_policy_versions (
            organization text NOT NULL,
            persona_id text NOT NULL,
            revision bigint NOT NULL,
            restored_revision bigint NOT NULL,
            fields jsonb NOT NULL,
            author text NOT NULL,
            create_time timestamptz NOT NULL,
            PRIMARY KEY (organization, persona_id, revision),
            FOREIGN KEY (organization, persona_id) REFERENCES persona.safety_policies (organization, persona_id)
        );
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE persona.safety_policy_versions;
        DROP TABLE persona.safety_policies;
        """
    )
