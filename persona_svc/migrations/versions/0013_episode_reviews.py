"""Episode reviews: the analysis service's view of a persona's call (the Say Meter arc and the audit's overall
score and flags), kept by persona and session apart from the episode, so that a review arriving before its episode
waits for it and one arriving after completes it. A review recorded or deleted is announced as a change of its
episode (when there is one), so replicas drop the episode they cached.

Revision ID: 0013
Revises: 0012
"""

from svckit.migrations import execute_script

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
        CREATE TABLE persona.episode_reviews (
            organization text NOT NULL,
            persona_id text NOT NULL,
            session_id text NOT NULL,
            say_meter_scores integer[] NOT NULL,
            final_say_meter integer,
            audit text NOT NULL,
            overall_score double precision NOT NULL,
            flags jsonb NOT NULL,
            record_time timestamptz NOT NULL,
            PRIMARY KEY (organization, persona_id, session_id),
            FOREIGN KEY (organization, persona_id) REFERENCES persona.personas (organization, id)
        );
        CREATE FUNCTION persona.announce_episode_review() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            review persona.episode_reviews;
        BEGIN
            IF TG_OP = 'DELETE' THEN review := OLD; ELSE review := NEW; END IF;
            PERFORM pg_notify('persona_changes', 'episodes:' || e.persona_id || '/' || e.candidate_id || '/'
                              || e.session_id || ':' || e.organization)
            FROM persona.episodes AS e
            WHERE e.organization = review.organization AND e.persona_id = review.persona_id
              AND e.session_id = review.session_id;
            RETURN NULL;
        END $$;
        CREATE TRIGGER episode_reviews_announce AFTER INSERT OR DELETE ON persona.episode_reviews
            FOR EACH ROW EXECUTE FUNCTION persona.announce_episode_review();
    """)


def downgrade() -> None:
    execute_script("""
        DROP TABLE persona.episode_reviews;
        DROP FUNCTION persona.announce_episode_review();
    """)
