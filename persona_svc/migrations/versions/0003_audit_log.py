"""The audit log of the calls that change data (svckit.audit_log).

Revision ID: 0003
Revises: 0002
"""

from svckit.audit_log import create_audit_log_table, drop_audit_log_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_log_table("persona")


def downgrade() -> None:
    drop_audit_log_table("persona")
