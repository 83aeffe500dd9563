"""The corpus's audits are named in a collection of their own, "corpusAudits/{audit_id}", apart from the analysis
service's "audits/{audit_id}" they are copies of: stored names follow. The id stays the analysis audit's id.

Revision ID: 0003
Revises: 0002
"""

from svckit.migrations import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _rename(old: str, new: str) -> str:
    # A run's findings refer to audits by whole JSON strings ("audits/{id}"): only those are renamed.
    return rf"""
        UPDATE learning.audits SET document = jsonb_set(document, '{{name}}', to_jsonb('{new}/' || id));
        UPDATE learning.training_events SET origin = '{new}/' || substr(origin, length('{old}/') + 1)
            WHERE origin LIKE '{old}/%';
        UPDATE learning.runs
            SET document = regexp_replace(document::text, '"{old}/([^"/]+)"', '"{new}/\1"', 'g')::jsonb
            WHERE kind = 'evolution';
    """


def upgrade() -> None:
    execute_script(_rename("audits", "corpusAudits"))


def downgrade() -> None:
    execute_script(_rename("corpusAudits", "audits"))
