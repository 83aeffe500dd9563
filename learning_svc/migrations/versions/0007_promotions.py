"""The promotions outbox: a promoted variant's persona is owed a version recording the promotion, one row per
experiment, delivered to the persona service after the deciding transaction commits.

Revision ID: 0007
Revises: 0006
"""

from svckit.migrations import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
        CREATE TABLE learning.promotions (
            id bigserial PRIMARY KEY,
            organization text NOT NULL,
            experiment_id text NOT NULL,
            persona text NOT NULL,
            promotion jsonb NOT NULL,
            state text NOT NULL DEFAULT 'pending',
            attempts integer NOT NULL DEFAULT 0,
            last_error text NOT NULL DEFAULT '',
            create_time timestamptz NOT NULL DEFAULT now(),
            next_attempt_time timestamptz NOT NULL DEFAULT now(),
            done_time timestamptz,
            UNIQUE (organization, experiment_id)
        );
        CREATE INDEX promotions_due ON learning.promotions (next_attempt_time) WHERE state = 'pending';
    """)


def downgrade() -> None:
    execute_script("DROP TABLE learning.promotions;")
