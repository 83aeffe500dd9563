"""The audit log of the calls that change data (svckit.audit_log).

Revision ID: 0010
Revises: 0009
"""

from svckit.audit_log import create_audit_log_table, drop_audit_log_table

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_log_table("analysis")


def downgrade() -> None:
    drop_audit_log_table("analysis")
