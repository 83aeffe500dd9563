"""Audits corpus, prompt patches with their revisions, evolution and learning runs, feedback and training
events, per-persona modules, experiments with assignments and outcomes.

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
        CREATE TABLE learning.audits (
            id text PRIMARY KEY,  -- the id of the analysis service's audit: recording is idempotent on it
            session text NOT NULL,
            persona text NOT NULL,
            archetype text NOT NULL,
            difficulty integer NOT NULL,
            document jsonb NOT NULL,  -- the PersonaAudit as received
            audit_time timestamptz NOT NULL,
            record_time timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX audits_by_time ON learning.audits (audit_time DESC, id DESC);
        CREATE INDEX audits_by_archetype ON learning.audits (archetype, audit_time DESC);
        CREATE INDEX audits_by_persona ON learning.audits (persona, audit_time DESC);

        CREATE TABLE learning.patches (
            id text PRIMARY KEY,
            archetype text NOT NULL,  -- '' applies to all archetypes
            target text NOT NULL,
            operation text NOT NULL,
            state text NOT NULL,
            document jsonb NOT NULL,  -- the whole PromptPatch record
            activate_time timestamptz,
            create_time timestamptz NOT NULL DEFAULT now(),
            evolution_run text NOT NULL DEFAULT ''
        );
        CREATE INDEX patches_active ON learning.patches (archetype, target, activate_time)
            WHERE state = 'PATCH_STATE_ACTIVE';
        CREATE INDEX patches_by_time ON learning.patches (create_time DESC, id DESC);

        CREATE TABLE learning.patch_revisions (
            patch_id text NOT NULL REFERENCES learning.patches (id),
            revision bigint NOT NULL,
            action text NOT NULL,
            actor text NOT NULL,
            reason text NOT NULL,
            snapshot jsonb NOT NULL,
            create_time timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (patch_id, revision)
        );

        -- Evolution and learning runs: a queue worked with FOR UPDATE SKIP LOCKED by any replica.
        CREATE TABLE learning.runs (
            id text PRIMARY KEY,
            kind text NOT NULL,  -- 'evolution' or 'learning'
            scope text NOT NULL,  -- an archetype or persona name, '' for all
            state text NOT NULL,
            trigger text NOT NULL,
            document jsonb NOT NULL,  -- the run record, stages and outputs included
            lease_until timestamptz,  -- a RUNNING run whose lease expired is taken up again
            create_time timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX runs_queue ON learning.runs (create_time) WHERE state IN ('RUN_STATE_QUEUED', 'RUN_STATE_RUNNING');
        CREATE INDEX runs_by_time ON learning.runs (kind, create_time DESC, id DESC);

        CREATE TABLE learning.feedback (
            trace_id text PRIMARY KEY,
            document jsonb NOT NULL,
            create_time timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE learning.training_events (
            position bigserial PRIMARY KEY,  -- oldest first, for pages and for runs
            id text NOT NULL UNIQUE,
            source text NOT NULL,
            origin text NOT NULL UNIQUE,
            persona text NOT NULL,
            module text NOT NULL,
            signal double precision NOT NULL,
            processed boolean NOT NULL DEFAULT false,
            learning_run text NOT NULL DEFAULT '',
            create_time timestamptz NOT NULL DEFAULT now(),
            process_time timestamptz
        );
        CREATE INDEX training_events_unprocessed ON learning.training_events (position) WHERE NOT processed;
        CREATE INDEX training_events_by_persona ON learning.training_events (persona, position);

        CREATE TABLE learning.modules (
            persona text NOT NULL,
            module text NOT NULL,
            positive double precision NOT NULL,  -- Beta(positive, negative) over the signals folded in
            negative double precision NOT NULL,
            status text NOT NULL,
            event_count integer NOT NULL,
            update_time timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (persona, module)
        );

        CREATE TABLE learning.experiments (
            id text PRIMARY KEY,
            state text NOT NULL,
            document jsonb NOT NULL,  -- settings, variants, running statistics and results
            create_time timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX experiments_by_time ON learning.experiments (create_time DESC, id DESC);

        CREATE TABLE learning.assignments (
            experiment_id text NOT NULL REFERENCES learning.experiments (id),
            session_id text NOT NULL,
            variant_id text NOT NULL,
            persona text NOT NULL,
            create_time timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (experiment_id, session_id)
        );

        CREATE TABLE learning.outcomes (
            experiment_id text NOT NULL,
            session_id text NOT NULL,
            say_meter_score integer,
            audit_score double precision,
            counted boolean NOT NULL DEFAULT true,  -- false when it arrived after the experiment ended
            create_time timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (experiment_id, session_id),
            FOREIGN KEY (experiment_id, session_id) REFERENCES learning.assignments (experiment_id, session_id)
        );

        CREATE TABLE learning.request_log (
            request_id text PRIMARY KEY,
            method text NOT NULL,
            fingerprint text NOT NULL,
            response jsonb,
            create_time timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    execute_script(
        "DROP TABLE learning.request_log, learning.outcomes, learning.assignments, learning.experiments, "
        "learning.modules, learning.training_events, learning.feedback, learning.runs, learning.patch_revisions, "
        "learning.patches, learning.audits;"
    )
