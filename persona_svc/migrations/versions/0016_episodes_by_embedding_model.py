"""The embedded episodes indexed by the model and dimension of their embedding, so that the background embedding
finds, and counts, the episodes embedded by another model than the configured one (to embed them again) without
reading those of the configured model. Where migration 0014 found no vector extension there is no embedding column,
and nothing to index.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().scalar(sa.text(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'persona'"
            " AND table_name = 'episodes' AND column_name = 'embedding'")) == 0:
        return
    op.execute("CREATE INDEX episodes_by_embedding_model ON persona.episodes (embedding_model, vector_dims(embedding))"
               " WHERE embedding IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS persona.episodes_by_embedding_model")
