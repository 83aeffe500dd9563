"""The last set of active prompt patches the learning service gave for each organization's persona (its archetype's
patches and its published learned modules), so that a rendering applies it, on any replica, when the learning
service does not answer.

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
        CREATE TABLE persona.last_known_patches (
            organization text NOT NULL,
            persona text NOT NULL,
            active_set_etag text NOT NULL,
            patches jsonb NOT NULL,
            confirm_time timestamptz NOT NULL,
            PRIMARY KEY (organization, persona)
        );
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE persona.last_known_patches;")
