"""The episodes still without an embedding, indexed apart (a partial index), so that the background embedding finds
them, and counts them, without reading the episodes that have one. Where migration 0014 found no vector extension
there is no embedding column, and nothing to index.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().scalar(sa.text(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'persona'"
            " AND table_name = 'episodes' AND column_name = 'embedding'")) == 0:
        return
    op.execute("CREATE INDEX episodes_unembedded ON persona.episodes (organization, persona_id, candidate_id,"
               " session_id) WHERE embedding IS NULL")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS persona.episodes_unembedded")
