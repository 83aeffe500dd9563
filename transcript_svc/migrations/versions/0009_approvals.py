"""Approvals: a command the persona's safety policy holds for a person's decision waits in ``approvals`` (one per
command, same id) until approved, rejected or expired; the command names its approval.

Revision ID: 0009
Revises: 0008
"""

from svckit.migrations import execute_script

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE transcript.commands ADD COLUMN approval text NOT NULL DEFAULT '';
        CREATE TABLE transcript.approvals (
            organization text NOT NULL,
            session_id text NOT NULL,
            id text NOT NULL,
            action text NOT NULL,
            requester text NOT NULL,
            rule text NOT NULL,
            policy text NOT NULL,
            policy_revision bigint NOT NULL,
            state text NOT NULL,
            create_time timestamptz NOT NULL,
            expire_time timestamptz NOT NULL,
            decider text NOT NULL DEFAULT '',
            decide_time timestamptz,
            decision_reason text NOT NULL DEFAULT '',
            escalated_to text NOT NULL DEFAULT '',
            PRIMARY KEY (organization, session_id, id),
            FOREIGN KEY (organization, session_id, id) REFERENCES transcript.commands (organization, session_id, id)
        );
        CREATE INDEX approvals_pending_by_expiry ON transcript.approvals (expire_time) WHERE state = 'pending';
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE transcript.approvals; ALTER TABLE transcript.commands DROP COLUMN approval;")
