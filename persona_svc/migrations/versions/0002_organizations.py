"""Every persona, version, scenario and archetype belongs to an organization; ids and slugs are unique per
organization, and change announcements name the organization.

Rows stored before this revision go to the organization named by SPARRING_MIGRATION_ORGANIZATION
(default "development"); afterwards the column has no default: every write names its organization.

Revision ID: 0002
Revises: 0001
"""



from svckit.migrations import add_organization_column, execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = ("archetypes", "personas", "persona_versions", "scenarios", "request_log")


def upgrade() -> None:
    add_organization_column("persona", _TABLES)
    execute_script(
        """
        ALTER TABLE persona.persona_versions DROP CONSTRAINT persona_versions_persona_id_fkey,
            DROP CONSTRAINT persona_versions_pkey;
        ALTER TABLE persona.personas DROP CONSTRAINT personas_archetype_id_fkey,
            DROP CONSTRAINT personas_pkey, DROP CONSTRAINT personas_slug_key;
        ALTER TABLE persona.archetypes DROP CONSTRAINT archetypes_pkey,
            ADD PRIMARY KEY (organization, id);
        ALTER TABLE persona.personas ADD PRIMARY KEY (organization, id),
            ADD CONSTRAINT personas_slug_key UNIQUE (organization, slug),
            ADD CONSTRAINT personas_archetype_id_fkey FOREIGN KEY (organization, archetype_id)
                REFERENCES persona.archetypes (organization, id);
        ALTER TABLE persona.persona_versions ADD PRIMARY KEY (organization, persona_id, revision),
            ADD CONSTRAINT persona_versions_persona_id_fkey FOREIGN KEY (organization, persona_id)
                REFERENCES persona.personas (organization, id);
        ALTER TABLE persona.scenarios DROP CONSTRAINT scenarios_pkey, ADD PRIMARY KEY (organization, id),
            ADD COLUMN creator text NOT NULL DEFAULT '';
        ALTER TABLE persona.scenarios ALTER COLUMN creator DROP DEFAULT;
        ALTER TABLE persona.request_log DROP CONSTRAINT request_log_pkey, ADD PRIMARY KEY (organization, request_id);

        DROP INDEX persona.personas_listing, persona.scenarios_listing;
        CREATE INDEX personas_listing ON persona.personas (organization, create_time DESC, id DESC);
        CREATE INDEX scenarios_listing ON persona.scenarios (organization, create_time DESC, id DESC);

        CREATE OR REPLACE FUNCTION persona.announce_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('persona_changes', TG_TABLE_NAME || ':' || coalesce(NEW.id, OLD.id) || ':'
                                                 || coalesce(NEW.organization, OLD.organization));
            RETURN NULL;
        END $$;
        """
    )


def downgrade() -> None:
    # Fails if two organizations hold the same id or slug: revision 0001 cannot tell them apart.
    execute_script(
        """
        CREATE OR REPLACE FUNCTION persona.announce_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('persona_changes', TG_TABLE_NAME || ':' || coalesce(NEW.id, OLD.id));
            RETURN NULL;
        END $$;
        DROP INDEX persona.personas_listing, persona.scenarios_listing;
        CREATE INDEX personas_listing ON persona.personas (create_time DESC, id DESC);
        CREATE INDEX scenarios_listing ON persona.scenarios (create_time DESC, id DESC);

        ALTER TABLE persona.persona_versions DROP CONSTRAINT persona_versions_persona_id_fkey,
            DROP CONSTRAINT persona_versions_pkey;
        ALTER TABLE persona.personas DROP CONSTRAINT personas_archetype_id_fkey,
            DROP CONSTRAINT personas_pkey, DROP CONSTRAINT personas_slug_key;
        ALTER TABLE persona.archetypes DROP CONSTRAINT archetypes_pkey, ADD PRIMARY KEY (id);
        ALTER TABLE persona.personas ADD PRIMARY KEY (id), ADD CONSTRAINT personas_slug_key UNIQUE (slug),
            ADD CONSTRAINT personas_archetype_id_fkey FOREIGN KEY (archetype_id) REFERENCES persona.archetypes (id);
        ALTER TABLE persona.persona_versions ADD PRIMARY KEY (persona_id, revision),
            ADD CONSTRAINT persona_versions_persona_id_fkey FOREIGN KEY (persona_id)
                REFERENCES persona.personas (id);
        ALTER TABLE persona.scenarios DROP CONSTRAINT scenarios_pkey, ADD PRIMARY KEY (id), DROP COLUMN creator;
        ALTER TABLE persona.archetypes DROP COLUMN organization;
        ALTER TABLE persona.personas DROP COLUMN organization;
        ALTER TABLE persona.persona_versions DROP COLUMN organization;
        ALTER TABLE persona.scenarios DROP COLUMN organization;
        """
    )
