"""Personas, their versions, scenarios, archetypes, request log and search.

Revision ID: 0001
Revises:
"""

from alembic import op

from svckit.migrations import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    execute_script(
        """
        CREATE TABLE persona.archetypes (
            id text PRIMARY KEY,
            display_name text NOT NULL,
            description text NOT NULL DEFAULT '',
            voice_guidance text NOT NULL DEFAULT '',
            create_time timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE persona.personas (
            id text PRIMARY KEY,
            slug text NOT NULL UNIQUE,
            display_name text NOT NULL,
            blueprint text NOT NULL,
            difficulty smallint NOT NULL CHECK (difficulty BETWEEN 1 AND 5),
            archetype_id text REFERENCES persona.archetypes (id),
            active boolean NOT NULL DEFAULT true,
            protected boolean NOT NULL DEFAULT false,
            domains text[] NOT NULL DEFAULT '{}',
            fields jsonb NOT NULL,
            revision bigint NOT NULL,
            create_time timestamptz NOT NULL,
            update_time timestamptz NOT NULL,
            delete_time timestamptz,
            search_vector tsvector,
            search_text text
        );
        CREATE INDEX personas_listing ON persona.personas (create_time DESC, id DESC);
        CREATE INDEX personas_blueprint_difficulty ON persona.personas (blueprint, difficulty)
            WHERE delete_time IS NULL;
        CREATE INDEX personas_archetype ON persona.personas (archetype_id);
        CREATE INDEX personas_domains ON persona.personas USING gin (domains);
        CREATE INDEX personas_search_vector ON persona.personas USING gin (search_vector);
        CREATE INDEX personas_search_text ON persona.personas USING gin (search_text gin_trgm_ops);

        -- The search document is derived from the persona, so it can never drift from it.
        CREATE FUNCTION persona.personas_search_document() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            beliefs text := coalesce(
                (SELECT string_agg(b ->> 'text', ' ') FROM jsonb_array_elements(NEW.fields -> 'beliefs') b), '');
            description text := coalesce(NEW.fields ->> 'description', '');
            domains text := array_to_string(NEW.domains, ' ');
        BEGIN
            NEW.search_vector :=
                setweight(to_tsvector('english', NEW.display_name), 'A') ||
                setweight(to_tsvector('simple', domains), 'B') ||
                setweight(to_tsvector('english', description), 'B') ||
                setweight(to_tsvector('english', beliefs), 'C');
            NEW.search_text := lower(concat_ws(' ', NEW.display_name, domains, description, beliefs));
            RETURN NEW;
        END $$;
        CREATE TRIGGER personas_search_document BEFORE INSERT OR UPDATE ON persona.personas
            FOR EACH ROW EXECUTE FUNCTION persona.personas_search_document();

        CREATE TABLE persona.persona_versions (
            persona_id text NOT NULL REFERENCES persona.personas (id),
            revision bigint NOT NULL,
            change_kind text NOT NULL,
            restored_revision bigint NOT NULL DEFAULT 0,
            snapshot jsonb NOT NULL,
            create_time timestamptz NOT NULL,
            PRIMARY KEY (persona_id, revision)
        );

        CREATE TABLE persona.scenarios (
            id text PRIMARY KEY,
            display_name text NOT NULL,
            industry text NOT NULL DEFAULT '',
            fields jsonb NOT NULL,
            revision bigint NOT NULL,
            create_time timestamptz NOT NULL,
            update_time timestamptz NOT NULL
        );
        CREATE INDEX scenarios_listing ON persona.scenarios (create_time DESC, id DESC);

        CREATE TABLE persona.request_log (
            request_id text PRIMARY KEY,
            method text NOT NULL,
            fingerprint text NOT NULL,
            response jsonb,
            create_time timestamptz NOT NULL DEFAULT now()
        );

        -- Every committed change is announced, so replicas can drop what they cached.
        CREATE FUNCTION persona.announce_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('persona_changes', TG_TABLE_NAME || ':' || coalesce(NEW.id, OLD.id));
            RETURN NULL;
        END $$;
        CREATE TRIGGER personas_announce AFTER INSERT OR UPDATE OR DELETE ON persona.personas
            FOR EACH ROW EXECUTE FUNCTION persona.announce_change();
        CREATE TRIGGER scenarios_announce AFTER INSERT OR UPDATE OR DELETE ON persona.scenarios
            FOR EACH ROW EXECUTE FUNCTION persona.announce_change();
        CREATE TRIGGER archetypes_announce AFTER INSERT OR UPDATE OR DELETE ON persona.archetypes
            FOR EACH ROW EXECUTE FUNCTION persona.announce_change();
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TABLE persona.request_log, persona.scenarios, persona.persona_versions, persona.personas,
            persona.archetypes;
        DROP FUNCTION persona.personas_search_document(), persona.announce_change();
        """
    )
