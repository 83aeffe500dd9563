"""Sessions, messages, commands, the outbox of analysis and audit requests, request log.

Revision ID: 0002
Revises: 0001
"""

from svckit.migrations import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE transcript.sessions (
            id text PRIMARY KEY,
            persona text NOT NULL,
            scenario text NOT NULL DEFAULT '',
            blueprint text NOT NULL,
            round_number integer NOT NULL,
            state text NOT NULL,
            persona_revision bigint NOT NULL DEFAULT 0,
            analysis_interval integer NOT NULL,
            start_time timestamptz NOT NULL,
            end_time timestamptz,
            end_reason text NOT NULL DEFAULT '',
            last_sequence bigint NOT NULL DEFAULT 0,
            revision bigint NOT NULL,
            update_time timestamptz NOT NULL,
            -- Bumped by every StreamSession open: the newest stream of a session owns it.
            stream_epoch bigint NOT NULL DEFAULT 0
        );
        CREATE INDEX sessions_listing ON transcript.sessions (start_time DESC, id DESC);
        CREATE INDEX sessions_persona ON transcript.sessions (persona);

        CREATE TABLE transcript.messages (
            session_id text NOT NULL REFERENCES transcript.sessions (id),
            sequence bigint NOT NULL,
            role text NOT NULL,
            text text NOT NULL,
            spoken_time timestamptz NOT NULL,
            word_count integer NOT NULL,
            create_time timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (session_id, sequence)
        );

        CREATE TABLE transcript.commands (
            session_id text NOT NULL REFERENCES transcript.sessions (id),
            id text NOT NULL,
            position bigserial,
            type text NOT NULL,
            text text NOT NULL DEFAULT '',
            label text NOT NULL DEFAULT '',
            new_difficulty integer NOT NULL DEFAULT 0,
            source text NOT NULL,
            suggestion text NOT NULL DEFAULT '',
            state text NOT NULL,
            delivery_count integer NOT NULL DEFAULT 0,
            create_time timestamptz NOT NULL,
            deliver_time timestamptz,
            acknowledge_time timestamptz,
            PRIMARY KEY (session_id, id)
        );
        CREATE INDEX commands_unacknowledged ON transcript.commands (session_id, position)
            WHERE state <> 'acknowledged';

        -- Requests to the analysis service, written in the transaction that makes them due,
        -- so a crash between commit and call loses none; handed out with FOR UPDATE SKIP LOCKED.
        CREATE TABLE transcript.outbox (
            id bigserial PRIMARY KEY,
            session_id text NOT NULL REFERENCES transcript.sessions (id),
            kind text NOT NULL,
            up_to_sequence bigint NOT NULL,
            state text NOT NULL DEFAULT 'pending',
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_time timestamptz NOT NULL DEFAULT now(),
            last_error text NOT NULL DEFAULT '',
            create_time timestamptz NOT NULL DEFAULT now(),
            done_time timestamptz,
            UNIQUE (session_id, kind, up_to_sequence)
        );
        CREATE INDEX outbox_due ON transcript.outbox (next_attempt_time) WHERE state = 'pending';

        CREATE TABLE transcript.request_log (
            request_id text PRIMARY KEY,
            method text NOT NULL,
            fingerprint text NOT NULL,
            response jsonb,
            create_time timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    execute_script(
        "DROP TABLE transcript.request_log, transcript.outbox, transcript.commands, transcript.messages, "
        "transcript.sessions;"
    )
