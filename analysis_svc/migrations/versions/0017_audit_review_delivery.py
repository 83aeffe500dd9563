"""Each audit is also handed to its persona's memory, as the review of the call's episode (the Say Meter arc and
the audit's overall score and flags): a second outbox on the audits, with its own state, attempts, last error and
next attempt. Audits stored before this revision are offered too, so earlier episodes get their reviews.

Revision ID: 0017
Revises: 0016
"""

from svckit.migrations import execute_script

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
        ALTER TABLE analysis.persona_audits
            ADD COLUMN review_state text NOT NULL DEFAULT 'pending',
            ADD COLUMN review_attempts integer NOT NULL DEFAULT 0,
            ADD COLUMN review_last_error text NOT NULL DEFAULT '',
            ADD COLUMN review_next_attempt_time timestamptz NOT NULL DEFAULT now(),
            ADD COLUMN review_time timestamptz;
        CREATE INDEX persona_audits_review_due ON analysis.persona_audits (review_next_attempt_time)
            WHERE review_state = 'pending';
    """)


def downgrade() -> None:
    execute_script("""
        DROP INDEX analysis.persona_audits_review_due;
        ALTER TABLE analysis.persona_audits DROP COLUMN review_state, DROP COLUMN review_attempts,
            DROP COLUMN review_last_error, DROP COLUMN review_next_attempt_time, DROP COLUMN review_time;
    """)
