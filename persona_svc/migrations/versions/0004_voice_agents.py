"""Voice agents made of personas at voice providers: one row per organization, provider and cache key, so
concurrent starts of one key on any replica keep one agent.

Revision ID: 0004
Revises: 0003
"""

from svckit.migrations import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        CREATE TABLE persona.voice_agents (
            organization text NOT NULL,
            id text NOT NULL,
            provider text NOT NULL,
            cache_key text NOT NULL,
            provider_agent_id text NOT NULL,
            persona_id text NOT NULL,
            spec jsonb NOT NULL,
            create_time timestamptz NOT NULL,
            PRIMARY KEY (organization, id),
            CONSTRAINT voice_agents_key UNIQUE (organization, provider, cache_key)
        );
        CREATE INDEX voice_agents_persona ON persona.voice_agents (organization, persona_id);
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE persona.voice_agents;")
