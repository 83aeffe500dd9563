"""Learned facts: what a persona keeps of each ended call with a candidate, each citing its messages, valid until
a later fact of the same kind and topic supersedes it; changes are announced so replicas drop the facts they
cached for rendering.

Revision ID: 0005
Revises: 0004
"""

from svckit.migrations import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE persona.facts (
            organization text NOT NULL,
            persona_id text NOT NULL,
            candidate_id text NOT NULL,
            id text NOT NULL,
            session_id text NOT NULL,
            kind text NOT NULL,
            text text NOT NULL,
            topic text NOT NULL,
            message_sequences bigint[] NOT NULL,
            confidence double precision NOT NULL,
            outcome text NOT NULL,
            engine text NOT NULL,
            valid_from timestamptz NOT NULL,
            valid_until timestamptz,
            superseded_by text NOT NULL,
            PRIMARY KEY (organization, persona_id, candidate_id, id),
            FOREIGN KEY (organization, persona_id) REFERENCES persona.personas (organization, id)
        );
        CREATE INDEX facts_of_a_session ON persona.facts (organization, persona_id, candidate_id, session_id);
        CREATE INDEX facts_listing ON persona.facts (organization, persona_id, candidate_id, valid_from DESC, id DESC);
        CREATE TRIGGER facts_announce AFTER INSERT OR UPDATE OR DELETE ON persona.facts
            FOR EACH ROW EXECUTE FUNCTION persona.announce_memory_change();
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE persona.facts;")
