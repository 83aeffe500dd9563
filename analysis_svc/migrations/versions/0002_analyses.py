"""Live analyses: one table for the Say Meter and every kind of suggestion (voice_analysis, told apart by kind).

Revision ID: 0002
Revises: 0001
"""

from svckit.migrations import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        -- One row per Say Meter reading (kind 'say_meter', holding the analysis itself) and one per
        -- suggestion it raised (kind = the suggestion type), grouped by analysis_id.
        CREATE TABLE analysis.voice_analysis (
            id text PRIMARY KEY,
            analysis_id text NOT NULL,
            session_id text NOT NULL,
            kind text NOT NULL CHECK (kind IN ('say_meter', 'context_injection', 'curveball', 'followup_question')),
            meter_score integer CHECK (meter_score BETWEEN 0 AND 100),
            meter_factors jsonb,
            meter_weights jsonb,
            band text,
            reasoning text,
            metrics jsonb,
            trigger_id text,
            trigger_source text,
            window_first bigint,
            window_last bigint,
            window_count integer,
            blueprint text,
            engine text,
            engine_fallback boolean,
            model text,
            latency_ms double precision,
            suggestion_text text,
            label text,
            priority text CHECK (priority IN ('low', 'medium', 'high', 'critical')),
            state text,
            create_time timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX voice_analysis_trigger ON analysis.voice_analysis (session_id, trigger_id)
            WHERE kind = 'say_meter';
        CREATE INDEX voice_analysis_session ON analysis.voice_analysis (session_id, kind, create_time DESC);
        CREATE INDEX voice_analysis_group ON analysis.voice_analysis (analysis_id);
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE analysis.voice_analysis;")
