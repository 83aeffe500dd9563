"""Working memory: a persona's notes, goals and task context per candidate (and optionally per session), every
change kept as a revision, and changes announced so replicas drop the memory they cached for rendering.

Revision ID: 0004
Revises: 0003
"""

from svckit.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE persona.working_memories (
            organization text NOT NULL,
            persona_id text NOT NULL,
            candidate_id text NOT NULL,
            session_id text NOT NULL,  -- '' for the memory kept across sessions
            content jsonb NOT NULL,
            revision bigint NOT NULL,
            update_time timestamptz NOT NULL,
            last_access_time timestamptz NOT NULL,
            PRIMARY KEY (organization, persona_id, candidate_id, session_id),
            FOREIGN KEY (organization, persona_id) REFERENCES persona.personas (organization, id)
        );
        CREATE TABLE persona.working_memory_revisions (
            organization text NOT NULL,
            persona_id text NOT NULL,
            candidate_id text NOT NULL,
            session_id text NOT NULL,
            revision bigint NOT NULL,
            change text NOT NULL,
            changed_paths text[] NOT NULL,
            restored_revision bigint NOT NULL,
            snapshot jsonb NOT NULL,
            actor text NOT NULL,
            create_time timestamptz NOT NULL,
            PRIMARY KEY (organization, persona_id, candidate_id, session_id, revision),
            FOREIGN KEY (organization, persona_id, candidate_id, session_id)
                REFERENCES persona.working_memories (organization, persona_id, candidate_id, session_id)
                ON DELETE CASCADE
        );

        -- Recording a read (last_access_time) changes no revision and announces nothing.
        CREATE FUNCTION persona.announce_memory_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('persona_changes', TG_TABLE_NAME || ':'
                || coalesce(NEW.persona_id, OLD.persona_id) || '/' || coalesce(NEW.candidate_id, OLD.candidate_id)
                || '/' || coalesce(NEW.session_id, OLD.session_id) || ':'
                || coalesce(NEW.organization, OLD.organization));
            RETURN NULL;
        END $$;
        CREATE TRIGGER working_memories_announce AFTER INSERT OR DELETE OR UPDATE OF revision
            ON persona.working_memories FOR EACH ROW EXECUTE FUNCTION persona.announce_memory_change();
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE persona.working_memory_revisions, persona.working_memories;
        DROP FUNCTION persona.announce_memory_change();
        """
    )
