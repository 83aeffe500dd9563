"""The candidate's messages a reading's input filters matched, queued in the reading's transaction for the
transcript service's guardrail check log (an outbox: retried with back-off until it answers, or refuses for good).

Revision ID: 0019
Revises: 0018
"""

from svckit.migrations import execute_script

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE analysis.finding_deliveries (
            id bigserial PRIMARY KEY,
            organization text NOT NULL,
            session_id text NOT NULL,
            analysis_id text NOT NULL,
            findings jsonb NOT NULL,
            state text NOT NULL DEFAULT 'pending',
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_time timestamptz NOT NULL DEFAULT now(),
            last_error text NOT NULL DEFAULT '',
            create_time timestamptz NOT NULL DEFAULT now(),
            done_time timestamptz
        );
        CREATE INDEX finding_deliveries_due ON analysis.finding_deliveries (next_attempt_time)
            WHERE state = 'pending';
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE analysis.finding_deliveries;")
