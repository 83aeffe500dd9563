"""The guardrail check log: one append-only row per check of a live call (pre-flight, approval, personal data,
output filter), listed per session and per persona in time order, deleted with the audit log's retention.

Revision ID: 0012
Revises: 0011
"""

from svckit.migrations import execute_script

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE transcript.guardrail_checks (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            organization text NOT NULL,
            session_id text NOT NULL,
            persona text NOT NULL,
            policy text NOT NULL,
            policy_revision bigint NOT NULL,
            kind text NOT NULL,
            decision text NOT NULL,
            rule text NOT NULL,
            input text NOT NULL,
            actor text NOT NULL,
            subject text NOT NULL,
            create_time timestamptz NOT NULL
        );
        CREATE INDEX guardrail_checks_by_session ON transcript.guardrail_checks
            (organization, session_id, create_time, id);
        CREATE INDEX guardrail_checks_by_persona ON transcript.guardrail_checks
            (organization, persona, create_time, id);
        CREATE INDEX guardrail_checks_expiry ON transcript.guardrail_checks (create_time);
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE transcript.guardrail_checks;")
