"""The audit log of the calls that change data (svckit.audit_log).

Revision ID: 0005
Revises: 0004
"""

from svckit.audit_log import create_audit_log_table, drop_audit_log_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_log_table("transcript")


def downgrade() -> None:
    drop_audit_log_table("transcript")
