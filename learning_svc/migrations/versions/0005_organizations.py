"""Every stored resource belongs to an organization: audits, patches (and their revisions), runs, feedback,
training events, modules, experiments (their assignments and outcomes) and request records. Ids are unique per
organization. Rows stored before get the organization named by SPARRING_MIGRATION_ORGANIZATION ("development").

Revision ID: 0005
Revises: 0004
"""


from alembic import op

from svckit.migrations import add_organization_column, execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLES = ("audits", "patches", "patch_revisions", "runs", "feedback", "training_events", "modules", "experiments",
           "assignments", "outcomes", "request_log")


def upgrade() -> None:
    add_organization_column("learning", _TABLES)
    execute_script(
        """
        ALTER TABLE learning.outcomes DROP CONSTRAINT outcomes_experiment_id_session_id_fkey;
        ALTER TABLE learning.assignments DROP CONSTRAINT assignments_experiment_id_fkey;
        ALTER TABLE learning.patch_revisions DROP CONSTRAINT patch_revisions_patch_id_fkey;

        ALTER TABLE learning.audits DROP CONSTRAINT audits_pkey, ADD PRIMARY KEY (organization, id);
        ALTER TABLE learning.patches DROP CONSTRAINT patches_pkey, ADD PRIMARY KEY (organization, id);
        ALTER TABLE learning.patch_revisions DROP CONSTRAINT patch_revisions_pkey,
            ADD PRIMARY KEY (organization, patch_id, revision),
            ADD FOREIGN KEY (organization, patch_id) REFERENCES learning.patches (organization, id);
        ALTER TABLE learning.feedback DROP CONSTRAINT feedback_pkey, ADD PRIMARY KEY (organization, trace_id);
        ALTER TABLE learning.training_events DROP CONSTRAINT training_events_origin_key,
            ADD UNIQUE (organization, origin);
        ALTER TABLE learning.modules DROP CONSTRAINT modules_pkey, ADD PRIMARY KEY (organization, persona, module);
        ALTER TABLE learning.experiments DROP CONSTRAINT experiments_pkey, ADD PRIMARY KEY (organization, id);
        ALTER TABLE learning.assignments DROP CONSTRAINT assignments_pkey,
            ADD PRIMARY KEY (organization, experiment_id, session_id),
            ADD FOREIGN KEY (organization, experiment_id) REFERENCES learning.experiments (organization, id);
        ALTER TABLE learning.outcomes DROP CONSTRAINT outcomes_pkey,
            ADD PRIMARY KEY (organization, experiment_id, session_id),
            ADD FOREIGN KEY (organization, experiment_id, session_id)
                REFERENCES learning.assignments (organization, experiment_id, session_id);
        ALTER TABLE learning.request_log DROP CONSTRAINT request_log_pkey, ADD PRIMARY KEY (organization, request_id);

        -- Listings and the queue's per-organization questions read by organization first.
        DROP INDEX learning.audits_by_time, learning.audits_by_archetype, learning.audits_by_persona,
            learning.patches_active, learning.patches_by_time, learning.runs_by_time,
            learning.training_events_by_persona, learning.experiments_by_time;
        CREATE INDEX audits_by_time ON learning.audits (organization, audit_time DESC, id DESC);
        CREATE INDEX audits_by_archetype ON learning.audits (organization, archetype, audit_time DESC);
        CREATE INDEX audits_by_persona ON learning.audits (organization, persona, audit_time DESC);
        CREATE INDEX patches_active ON learning.patches (organization, archetype, target, activate_time)
            WHERE state = 'PATCH_STATE_ACTIVE';
        CREATE INDEX patches_by_time ON learning.patches (organization, create_time DESC, id DESC);
        CREATE INDEX runs_by_time ON learning.runs (organization, kind, create_time DESC, id DESC);
        CREATE INDEX training_events_by_persona ON learning.training_events (organization, persona, position);
        CREATE INDEX training_events_by_organization ON learning.training_events (organization, position);
        CREATE INDEX experiments_by_time ON learning.experiments (organization, create_time DESC, id DESC);
        """
    )


def downgrade() -> None:
    # Ids unique per organization may repeat across organizations: only a database of one organization goes back.
    execute_script(
        """
        DROP INDEX learning.audits_by_time, learning.audits_by_archetype, learning.audits_by_persona,
            learning.patches_active, learning.patches_by_time, learning.runs_by_time,
            learning.training_events_by_persona, learning.training_events_by_organization,
            learning.experiments_by_time;
        ALTER TABLE learning.outcomes DROP CONSTRAINT outcomes_organization_experiment_id_session_id_fkey;
        ALTER TABLE learning.assignments DROP CONSTRAINT assignments_organization_experiment_id_fkey;
        ALTER TABLE learning.patch_revisions DROP CONSTRAINT patch_revisions_organization_patch_id_fkey;
        ALTER TABLE learning.audits DROP CONSTRAINT audits_pkey, ADD PRIMARY KEY (id);
        ALTER TABLE learning.patches DROP CONSTRAINT patches_pkey, ADD PRIMARY KEY (id);
        ALTER TABLE learning.patch_revisions DROP CONSTRAINT patch_revisions_pkey, ADD PRIMARY KEY (patch_id, revision),
            ADD FOREIGN KEY (patch_id) REFERENCES learning.patches (id);
        ALTER TABLE learning.feedback DROP CONSTRAINT feedback_pkey, ADD PRIMARY KEY (trace_id);
        ALTER TABLE learning.training_events DROP CONSTRAINT training_events_organization_origin_key,
            ADD UNIQUE (origin);
        ALTER TABLE learning.modules DROP CONSTRAINT modules_pkey, ADD PRIMARY KEY (persona, module);
        ALTER TABLE learning.experiments DROP CONSTRAINT experiments_pkey, ADD PRIMARY KEY (id);
        ALTER TABLE learning.assignments DROP CONSTRAINT assignments_pkey, ADD PRIMARY KEY (experiment_id, session_id),
            ADD FOREIGN KEY (experiment_id) REFERENCES learning.experiments (id);
        ALTER TABLE learning.outcomes DROP CONSTRAINT outcomes_pkey, ADD PRIMARY KEY (experiment_id, session_id),
            ADD FOREIGN KEY (experiment_id, session_id) REFERENCES learning.assignments (experiment_id, session_id);
        ALTER TABLE learning.request_log DROP CONSTRAINT request_log_pkey, ADD PRIMARY KEY (request_id);
        CREATE INDEX audits_by_time ON learning.audits (audit_time DESC, id DESC);
        CREATE INDEX audits_by_archetype ON learning.audits (archetype, audit_time DESC);
        CREATE INDEX audits_by_persona ON learning.audits (persona, audit_time DESC);
        CREATE INDEX patches_active ON learning.patches (archetype, target, activate_time)
            WHERE state = 'PATCH_STATE_ACTIVE';
        CREATE INDEX patches_by_time ON learning.patches (create_time DESC, id DESC);
        CREATE INDEX runs_by_time ON learning.runs (kind, create_time DESC, id DESC);
        CREATE INDEX training_events_by_persona ON learning.training_events (persona, position);
        CREATE INDEX experiments_by_time ON learning.experiments (create_time DESC, id DESC);
        """
    )
    for table in _TABLES:
        op.execute(f"ALTER TABLE learning.{table} DROP COLUMN organization")
