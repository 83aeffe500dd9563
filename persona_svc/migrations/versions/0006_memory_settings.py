"""Memory settings per persona: whether it remembers across sessions, within one or not at all, and how many days
its memory is kept; changes are announced like the catalogue's, so replicas drop the settings they cached.

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
        CREATE TABLE persona.memory_settings (
            organization text NOT NULL,
            id text NOT NULL,  -- the persona's
            persistence text NOT NULL,
            retention_days integer NOT NULL,
            revision bigint NOT NULL,
            update_time timestamptz NOT NULL,
            PRIMARY KEY (organization, id),
            FOREIGN KEY (organization, id) REFERENCES persona.personas (organization, id)
        );
        CREATE TRIGGER memory_settings_announce AFTER INSERT OR UPDATE OR DELETE ON persona.memory_settings
            FOR EACH ROW EXECUTE FUNCTION persona.announce_change();
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE persona.memory_settings;")
