"""Voice agents made of personas at voice providers: one row per organization, provider and cache key, so
concurrent starts of one key on any replica keep one agent; the sessions that use each agent, so that clean-up
never retires one a live session uses; and the deletions at the providers still to be done.

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
        CREATE TABLE persona.voice_agent_uses (
            organization text NOT NULL,
            agent_id text NOT NULL,
            session text NOT NULL,
            start_time timestamptz NOT NULL,
            end_time timestamptz,
            check_time timestamptz,
            PRIMARY KEY (organization, agent_id, session),
            FOREIGN KEY (organization, agent_id) REFERENCES persona.voice_agents (organization, id) ON DELETE CASCADE
        );
        CREATE INDEX voice_agent_uses_open ON persona.voice_agent_uses (check_time NULLS FIRST)
            WHERE end_time IS NULL;
        CREATE TABLE persona.voice_agent_deletions (
            id bigserial PRIMARY KEY,
            organization text NOT NULL,
            provider text NOT NULL,
            provider_agent_id text NOT NULL,
            state text NOT NULL,
            attempts integer NOT NULL,
            next_attempt_time timestamptz NOT NULL,
            last_error text NOT NULL,
            create_time timestamptz NOT NULL
        );
        CREATE INDEX voice_agent_deletions_due ON persona.voice_agent_deletions (next_attempt_time)
            WHERE state = 'pending';
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE persona.voice_agent_deletions, persona.voice_agent_uses, persona.voice_agents;")
