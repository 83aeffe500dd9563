"""The audit log of the calls that change data (svckit.audit_log).

Revision ID: 0006
Revises: 0005
"""

from svckit.audit_log import create_audit_log_table, drop_audit_log_table

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_log_table("learning")


def downgrade() -> None:
    drop_audit_log_table("learning")
