"""Episode embeddings for vector recall: the pgvector extension where the database offers it (and this role may
create it, or it exists already), and on each episode its embedding and the model that made it (vectors of
different models are never compared). Without the extension the migration logs why and changes nothing: episodes
are then recalled by full text and trigrams only, as before.

No index: recall compares the context with the episodes of one persona, which retention keeps bounded, so an exact
scan is used, and the column takes any model's dimensions.

Revision ID: 0014
Revises: 0013
"""

import logging

import sqlalchemy as sa
from alembic import op

log = logging.getLogger("persona.migrations")

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    if connection.scalar(sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")) == 0:
        log.warning("episode embeddings skipped: this PostgreSQL has no vector extension (pgvector)")
        return
    try:
        with connection.begin_nested():
            connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError as error:
        log.warning("episode embeddings skipped: the vector extension cannot be created here (%s)", error.orig)
        return
    op.execute("ALTER TABLE persona.episodes ADD COLUMN embedding vector, ADD COLUMN embedding_model text")


def downgrade() -> None:
    op.execute("ALTER TABLE persona.episodes DROP COLUMN IF EXISTS embedding, DROP COLUMN IF EXISTS embedding_model")
