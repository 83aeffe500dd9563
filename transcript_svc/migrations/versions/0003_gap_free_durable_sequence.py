"""A session's durable sequence covers only a gap-free prefix of its stored messages, enforced by the database.

``last_sequence`` is what a resuming gateway is told is stored; everything after it is sent again. A trigger
refuses any change of it that goes backwards, or forwards over a sequence that has no stored message, so no
writer (however it fails, in whatever order its groups commit) can move it above a hole.

Sessions stored before this revision get as durable sequence the end of their gap-free prefix: a gateway that
resumes them sends again what lies above a hole, and what was stored there already comes back as a duplicate.

Revision ID: 0003
Revises: 0002
"""

from svckit.migrations import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE FUNCTION transcript.refuse_gapped_advance() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            present bigint;
        BEGIN
            IF NEW.last_sequence < OLD.last_sequence THEN
                RAISE EXCEPTION 'durable sequence of session % cannot go back from % to %',
                    NEW.id, OLD.last_sequence, NEW.last_sequence
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'sessions_gap_free_durable_sequence';
            END IF;
            SELECT count(*) INTO present FROM transcript.messages
                WHERE session_id = NEW.id AND sequence > OLD.last_sequence AND sequence <= NEW.last_sequence;
            IF present <> NEW.last_sequence - OLD.last_sequence THEN
                RAISE EXCEPTION 'durable sequence of session % cannot advance from % to % over a missing message',
                    NEW.id, OLD.last_sequence, NEW.last_sequence
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'sessions_gap_free_durable_sequence';
            END IF;
            RETURN NEW;
        END
        $$;

        -- The first missing sequence is 1 or one after a stored message; the prefix ends before it.
        UPDATE transcript.sessions AS s SET last_sequence = prefix.length
            FROM (SELECT s2.id,
                         (SELECT min(c.x) - 1
                          FROM (SELECT 1 AS x
                                UNION ALL
                                SELECT m.sequence + 1 FROM transcript.messages m WHERE m.session_id = s2.id) AS c
                          WHERE NOT EXISTS (SELECT 1 FROM transcript.messages n
                                            WHERE n.session_id = s2.id AND n.sequence = c.x)) AS length
                  FROM transcript.sessions s2) AS prefix
            WHERE s.id = prefix.id AND s.last_sequence > prefix.length;

        CREATE TRIGGER sessions_gap_free_durable_sequence
            BEFORE UPDATE OF last_sequence ON transcript.sessions
            FOR EACH ROW WHEN (NEW.last_sequence IS DISTINCT FROM OLD.last_sequence)
            EXECUTE FUNCTION transcript.refuse_gapped_advance();
        """
    )
