"""Every analysis, suggestion, audit and request record belongs to an organization.

Rows stored before this revision belong to the organization named by SPARRING_MIGRATION_ORGANIZATION
("development" unless set); afterwards the column has no default, so every write names its organization.
Uniqueness (one analysis per trigger, one audit per session, one response per request id) holds per organization.

Revision ID: 0009
Revises: 0008
"""



from svckit.migrations import add_organization_column, execute_script

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TABLES = ("voice_analysis", "persona_audits", "request_log")


def upgrade() -> None:
    add_organization_column("analysis", _TABLES)
    execute_script(
        """
        DROP INDEX analysis.voice_analysis_trigger;
        CREATE UNIQUE INDEX voice_analysis_trigger ON analysis.voice_analysis (organization, session_id, trigger_id)
            WHERE kind = 'say_meter';
        DROP INDEX analysis.voice_analysis_session;
        CREATE INDEX voice_analysis_session ON analysis.voice_analysis
            (organization, session_id, kind, create_time DESC);
        DROP INDEX analysis.voice_analysis_call_order;
        CREATE INDEX voice_analysis_call_order ON analysis.voice_analysis
            (organization, session_id, up_to_sequence, create_time, analysis_id) WHERE kind = 'say_meter';
        ALTER TABLE analysis.persona_audits DROP CONSTRAINT persona_audits_session_id_key;
        ALTER TABLE analysis.persona_audits ADD CONSTRAINT persona_audits_session UNIQUE (organization, session_id);
        CREATE INDEX persona_audits_newest ON analysis.persona_audits (organization, create_time DESC, id DESC);
        ALTER TABLE analysis.request_log DROP CONSTRAINT request_log_pkey;
        ALTER TABLE analysis.request_log ADD PRIMARY KEY (organization, request_id);
        """
    )


def downgrade() -> None:
    execute_script(
        """
        ALTER TABLE analysis.request_log DROP CONSTRAINT request_log_pkey;
        ALTER TABLE analysis.request_log ADD PRIMARY KEY (request_id);
        DROP INDEX analysis.persona_audits_newest;
        ALTER TABLE analysis.persona_audits DROP CONSTRAINT persona_audits_session;
        ALTER TABLE analysis.persona_audits ADD CONSTRAINT persona_audits_session_id_key UNIQUE (session_id);
        DROP INDEX analysis.voice_analysis_call_order;
        CREATE INDEX voice_analysis_call_order ON analysis.voice_analysis
            (session_id, up_to_sequence, create_time, analysis_id) WHERE kind = 'say_meter';
        DROP INDEX analysis.voice_analysis_session;
        CREATE INDEX voice_analysis_session ON analysis.voice_analysis (session_id, kind, create_time DESC);
        DROP INDEX analysis.voice_analysis_trigger;
        CREATE UNIQUE INDEX voice_analysis_trigger ON analysis.voice_analysis (session_id, trigger_id)
            WHERE kind = 'say_meter';
        ALTER TABLE analysis.voice_analysis DROP COLUMN organization;
        ALTER TABLE analysis.persona_audits DROP COLUMN organization;
        ALTER TABLE analysis.request_log DROP COLUMN organization;
        """
    )
