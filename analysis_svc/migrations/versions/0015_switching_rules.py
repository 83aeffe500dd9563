"""Switching rules of an organization (when to hand a live call to another persona), and the rule that raised each
HANDOFF suggestion ('' for the others).

Revision ID: 0015
Revises: 0014
"""

from svckit.migrations import execute_script

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
        CREATE TABLE analysis.switching_rules (
            organization text NOT NULL,
            id text NOT NULL,
            from_persona text NOT NULL,
            to_persona text NOT NULL,
            fallback_personas text[] NOT NULL,
            priority integer NOT NULL,
            pattern text NOT NULL,
            say_meter_below integer NOT NULL,
            stage text NOT NULL,
            reason text NOT NULL,
            auto_apply boolean NOT NULL,
            create_time timestamptz NOT NULL,
            delete_time timestamptz,
            PRIMARY KEY (organization, id)
        );
        ALTER TABLE analysis.voice_analysis ADD COLUMN switching_rule text NOT NULL DEFAULT '';
        ALTER TABLE analysis.voice_analysis DROP CONSTRAINT voice_analysis_kind_check;
        ALTER TABLE analysis.voice_analysis ADD CONSTRAINT voice_analysis_kind_check
            CHECK (kind IN ('say_meter', 'context_injection', 'curveball', 'followup_question', 'handoff'));
    """)


def downgrade() -> None:
    execute_script("""
        DELETE FROM analysis.voice_analysis WHERE kind = 'handoff';
        ALTER TABLE analysis.voice_analysis DROP CONSTRAINT voice_analysis_kind_check;
        ALTER TABLE analysis.voice_analysis ADD CONSTRAINT voice_analysis_kind_check
            CHECK (kind IN ('say_meter', 'context_injection', 'curveball', 'followup_question'));
        ALTER TABLE analysis.voice_analysis DROP COLUMN switching_rule;
        DROP TABLE analysis.switching_rules;
    """)
