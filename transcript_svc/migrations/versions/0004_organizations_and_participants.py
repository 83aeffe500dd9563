"""Every session belongs to an organization, and names its interviewer and its gateway.

Session ids are chosen by callers and unique per organization, so the organization is part of the session's key
and of every key that refers to a session: its messages, commands and outbox rows carry it as the first column
of their foreign key. Request ids are unique per organization too. Rows stored before this revision belong to
the organization named by SPARRING_MIGRATION_ORGANIZATION ("development" unless set); from then on the column
has no default: whoever writes a row says whose it is.

Revision ID: 0004
Revises: 0003
"""



from svckit.migrations import add_organization_column, execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLES = ("sessions", "messages", "commands", "outbox", "request_log")


def upgrade() -> None:
    execute_script(
        "ALTER TABLE transcript.messages DROP CONSTRAINT messages_session_id_fkey;\n"
        "ALTER TABLE transcript.commands DROP CONSTRAINT commands_session_id_fkey;\n"
        "ALTER TABLE transcript.outbox DROP CONSTRAINT outbox_session_id_fkey;\n")
    add_organization_column("transcript", _TABLES)
    execute_script(
        """
        -- Subjects (token sub) of the session's interviewer and of the gateway that streams it ('' for none yet).
        ALTER TABLE transcript.sessions ADD COLUMN interviewer text NOT NULL DEFAULT '',
                                        ADD COLUMN gateway text NOT NULL DEFAULT '';

        ALTER TABLE transcript.sessions DROP CONSTRAINT sessions_pkey, ADD PRIMARY KEY (organization, id);
        ALTER TABLE transcript.messages DROP CONSTRAINT messages_pkey,
            ADD PRIMARY KEY (organization, session_id, sequence),
            ADD FOREIGN KEY (organization, session_id) REFERENCES transcript.sessions (organization, id);
        ALTER TABLE transcript.commands DROP CONSTRAINT commands_pkey,
            ADD PRIMARY KEY (organization, session_id, id),
            ADD FOREIGN KEY (organization, session_id) REFERENCES transcript.sessions (organization, id);
        ALTER TABLE transcript.outbox DROP CONSTRAINT outbox_session_id_kind_up_to_sequence_key,
            ADD UNIQUE (organization, session_id, kind, up_to_sequence),
            ADD FOREIGN KEY (organization, session_id) REFERENCES transcript.sessions (organization, id);
        ALTER TABLE transcript.request_log DROP CONSTRAINT request_log_pkey,
            ADD PRIMARY KEY (organization, request_id);

        DROP INDEX transcript.sessions_listing;
        DROP INDEX transcript.sessions_persona;
        DROP INDEX transcript.commands_unacknowledged;
        CREATE INDEX sessions_listing ON transcript.sessions (organization, start_time DESC, id DESC);
        CREATE INDEX sessions_persona ON transcript.sessions (organization, persona);
        CREATE INDEX sessions_interviewer ON transcript.sessions (organization, interviewer, start_time DESC, id DESC);
        CREATE INDEX sessions_gateway ON transcript.sessions (organization, gateway, start_time DESC, id DESC);
        CREATE INDEX commands_unacknowledged ON transcript.commands (organization, session_id, position)
            WHERE state <> 'acknowledged';

        CREATE OR REPLACE FUNCTION transcript.refuse_gapped_advance() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            present bigint;
        BEGIN
            IF NEW.last_sequence < OLD.last_sequence THEN
                RAISE EXCEPTION 'durable sequence of session % cannot go back from % to %',
                    NEW.id, OLD.last_sequence, NEW.last_sequence
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'sessions_gap_free_durable_sequence';
            END IF;
            SELECT count(*) INTO present FROM transcript.messages
                WHERE organization = NEW.organization AND session_id = NEW.id
                  AND sequence > OLD.last_sequence AND sequence <= NEW.last_sequence;
            IF present <> NEW.last_sequence - OLD.last_sequence THEN
                RAISE EXCEPTION 'durable sequence of session % cannot advance from % to % over a missing message',
                    NEW.id, OLD.last_sequence, NEW.last_sequence
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'sessions_gap_free_durable_sequence';
            END IF;
            RETURN NEW;
        END
        $$;
        """
    )
