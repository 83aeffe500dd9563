"""Episodes: each ended session a persona learned from, as it remembers it (summary, outcome and the searched
document), with a full-text vector and a trigram index for recalling episodes like a context; changes are
announced so replicas drop the last episode they cached for rendering.

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
        CREATE TABLE persona.episodes (
            organization text NOT NULL,
            persona_id text NOT NULL,
            candidate_id text NOT NULL,
            session_id text NOT NULL,
            summary text NOT NULL,
            outcome text NOT NULL,
            document text NOT NULL,
            search_vector tsvector GENERATED ALWAYS AS (to_tsvector('english', document)) STORED,
            create_time timestamptz NOT NULL,
            PRIMARY KEY (organization, persona_id, candidate_id, session_id),
            FOREIGN KEY (organization, persona_id) REFERENCES persona.personas (organization, id)
        );
        CREATE INDEX episodes_search ON persona.episodes USING gin (search_vector);
        CREATE INDEX episodes_trigrams ON persona.episodes USING gin (document gin_trgm_ops);
        CREATE TRIGGER episodes_announce AFTER INSERT OR UPDATE OR DELETE ON persona.episodes
            FOR EACH ROW EXECUTE FUNCTION persona.announce_memory_change();
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE persona.episodes;")
