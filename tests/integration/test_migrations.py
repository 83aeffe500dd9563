"""Every service's migrations apply from scratch and from each earlier revision a database may be at."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from analysis_svc.app import SPEC as ANALYSIS
from learning_svc.app import SPEC as LEARNING
from persona_svc.app import SPEC as PERSONA
from svckit.db import make_engine
from svckit.migrations import upgrade
from transcript_svc.app import SPEC as TRANSCRIPT


@pytest_asyncio.fixture
async def engine(own_database_url) -> AsyncIterator[AsyncEngine]:
    """An engine on a database of the test's own, empty: each test migrates it as far as it needs."""
    engine = make_engine(own_database_url, pool_size=2)
    yield engine
    await engine.dispose()


# A table each schema must have at head (None: the schema has no tables yet).
EXPECTED = [(PERSONA, "personas"), (TRANSCRIPT, "messages"), (ANALYSIS, "voice_analysis"), (LEARNING, None)]


@pytest.mark.parametrize(("spec", "table"), EXPECTED, ids=lambda v: getattr(v, "name", v))
async def test_a_database_at_the_first_revision_reaches_head(engine, spec, table):
    await upgrade(engine, spec.package, spec.schema, "0001")
    await spec.migrate(engine)
    await spec.migrate(engine)  # running again changes nothing
    if table is not None:
        async with engine.connect() as connection:
            found = await connection.scalar(sa.text("SELECT to_regclass(:name) IS NOT NULL"),
                                            {"name": f"{spec.schema}.{table}"})
        assert found


async def test_stored_suggestions_get_places_after_their_say_meter(engine):
    """Revision 0007 gives rows written before it their places: the Say Meter 0, its suggestions 1, 2, ..."""
    await upgrade(engine, ANALYSIS.package, ANALYSIS.schema, "0006")
    rows = [("b-meter", "a1", "say_meter"), ("a-tip", "a1", "curveball"), ("c-tip", "a1", "context_injection"),
            ("z-meter", "a2", "say_meter")]
    async with engine.begin() as connection:
        await connection.execute(sa.text(
            "INSERT INTO analysis.voice_analysis (id, analysis_id, session_id, kind) VALUES (:id, :a, 's', :k)"),
            [{"id": i, "a": a, "k": k} for i, a, k in rows])
    await ANALYSIS.migrate(engine)
    async with engine.connect() as connection:
        placed = (await connection.execute(sa.text(
            "SELECT id, position FROM analysis.voice_analysis ORDER BY analysis_id, position"))).all()
    assert [tuple(row) for row in placed] == [("b-meter", 0), ("a-tip", 1), ("c-tip", 2), ("z-meter", 0)]


async def test_stored_sessions_resume_from_the_end_of_their_gap_free_prefix(engine):
    """Revision 0003 moves a durable sequence that lies above a hole back to the hole; from then on the database
    refuses any advance over a missing message and any step back."""
    await upgrade(engine, TRANSCRIPT.package, TRANSCRIPT.schema, "0002")
    stored = {"holed": ([1, 2, 3, 5, 6], 6), "short": ([1, 2], 4), "headless": ([2, 3], 3),
              "whole": ([1, 2, 3], 3), "empty": ([], 0)}
    async with engine.begin() as connection:
        for session_id, (sequences, last) in stored.items():
            await connection.execute(sa.text(
                "INSERT INTO transcript.sessions (id, persona, blueprint, round_number, state, analysis_interval,"
                " start_time, last_sequence, revision, update_time)"
                " VALUES (:id, 'personas/p', 'sales', 1, 'active', 10, now(), :last, 1, now())"),
                {"id": session_id, "last": last})
            for sequence in sequences:
                await connection.execute(sa.text(
                    "INSERT INTO transcript.messages (session_id, sequence, role, text, spoken_time, word_count)"
                    " VALUES (:id, :n, 'user', 'words', now(), 1)"), {"id": session_id, "n": sequence})
    await TRANSCRIPT.migrate(engine)
    async with engine.connect() as connection:
        durable = dict((await connection.execute(sa.text(
            "SELECT id, last_sequence FROM transcript.sessions"))).all())
    assert durable == {"holed": 3, "short": 2, "headless": 0, "whole": 3, "empty": 0}

    async def advance(session_id: str, to: int) -> None:
        async with engine.begin() as connection:
            await connection.execute(sa.text("UPDATE transcript.sessions SET last_sequence = :to WHERE id = :id"),
                                     {"id": session_id, "to": to})

    for session_id, to in (("holed", 6), ("holed", 5), ("short", 3), ("whole", 2), ("empty", 1)):
        with pytest.raises(sa.exc.IntegrityError, match="durable sequence"):
            await advance(session_id, to)
    await advance("holed", 3)  # unchanged: nothing to check
    async with engine.begin() as connection:
        await connection.execute(sa.text(
            "INSERT INTO transcript.messages (organization, session_id, sequence, role, text, spoken_time, word_count)"
            " VALUES ('development', 'holed', 4, 'user', 'words', now(), 1)"))  # stored before 0004: 'development's
    await advance("holed", 6)  # the hole is filled: 4, 5 and 6 are all stored


# A session and one row of each table that refers to it or keeps requests: (table, columns, values).
TRANSCRIPT_ROWS = [
    ("sessions", "id, persona, blueprint, round_number, state, analysis_interval, start_time, revision, update_time",
     "'call-1', 'personas/p', 'sales', 1, 'active', 10, now(), 1, now()"),
    ("messages", "session_id, sequence, role, text, spoken_time, word_count", "'call-1', 1, 'user', 'words', now(), 1"),
    ("commands", "session_id, id, type, text, source, state, create_time",
     "'call-1', 'c1', 'curveball', 'late', 'manual', 'pending', now()"),
    ("outbox", "session_id, kind, up_to_sequence", "'call-1', 'audit', 1"),
    ("request_log", "request_id, method, fingerprint", "'r1', 'EndSession', 'f'"),
]


def insert_row(table: str, columns: str, values: str, organization: str | None = None) -> sa.TextClause:
    if organization is None:
        return sa.text(f"INSERT INTO transcript.{table} ({columns}) VALUES ({values})")
    return sa.text(f"INSERT INTO transcript.{table} (organization, {columns}) VALUES ('{organization}', {values})")


async def test_stored_transcripts_belong_to_the_organization_the_migration_is_told(engine, monkeypatch):
    """Revision 0004 gives every row stored before it the organization SPARRING_MIGRATION_ORGANIZATION names; then
    each row must name its own, and another organization may hold the same session id and request id."""
    await upgrade(engine, TRANSCRIPT.package, TRANSCRIPT.schema, "0003")
    async with engine.begin() as connection:
        for row in TRANSCRIPT_ROWS:
            await connection.execute(insert_row(*row))
    monkeypatch.setenv("SPARRING_MIGRATION_ORGANIZATION", "initech")
    await TRANSCRIPT.migrate(engine)

    async with engine.connect() as connection:
        owners = {table: (await connection.execute(sa.text(
            f"SELECT DISTINCT organization FROM transcript.{table}"))).scalars().all()
            for table, _, _ in TRANSCRIPT_ROWS}
    assert owners == {table: ["initech"] for table, _, _ in TRANSCRIPT_ROWS}
    with pytest.raises(sa.exc.IntegrityError, match="organization"):
        async with engine.begin() as connection:
            table, columns, values = TRANSCRIPT_ROWS[0]
            await connection.execute(insert_row(table, columns, values.replace("call-1", "call-2")))
    async with engine.begin() as connection:
        for row in TRANSCRIPT_ROWS:
            await connection.execute(insert_row(*row, organization="acme"))
        held = (await connection.execute(sa.text(
            "SELECT organization, id FROM transcript.sessions ORDER BY organization"))).all()
    assert [tuple(row) for row in held] == [("acme", "call-1"), ("initech", "call-1")]


async def test_stored_analyses_take_their_window_end_as_their_trigger_sequence(engine):
    """Revision 0008 gives rows written before it the sequence their window ended at (0 for a row without one)."""
    await upgrade(engine, ANALYSIS.package, ANALYSIS.schema, "0007")
    rows = [("meter", "a1", "say_meter", 0, 10), ("tip", "a1", "curveball", 1, 10),
            ("no-window", "a2", "say_meter", 0, None)]
    async with engine.begin() as connection:
        await connection.execute(sa.text(
            "INSERT INTO analysis.voice_analysis (id, analysis_id, session_id, kind, position, window_last) "
            "VALUES (:id, :a, 's', :k, :p, :last)"),
            [{"id": i, "a": a, "k": k, "p": p, "last": last} for i, a, k, p, last in rows])
    await ANALYSIS.migrate(engine)
    async with engine.connect() as connection:
        sequences = (await connection.execute(sa.text(
            "SELECT id, up_to_sequence FROM analysis.voice_analysis ORDER BY analysis_id, position"))).all()
    assert [tuple(row) for row in sequences] == [("meter", 10), ("tip", 10), ("no-window", 0)]


async def test_stored_readings_keep_the_call_measures_only_near_their_sessions_newest(engine):
    """Revision 0023 clears the measures of readings more than 50 messages before their session's newest."""
    await upgrade(engine, ANALYSIS.package, ANALYSIS.schema, "0022")
    readings = [(session, up_to) for session, last in (("long", 120), ("short", 30))
                for up_to in range(10, last + 1, 10)]
    async with engine.begin() as connection:
        await connection.execute(sa.text(
            "INSERT INTO analysis.voice_analysis (organization, id, analysis_id, session_id, kind, up_to_sequence, "
            "call_measures, call_tally) VALUES ('acme', :id, :id, :s, 'say_meter', :n, '{}', '{}')"),
            [{"id": f"{session}-{up_to}", "s": session, "n": up_to} for session, up_to in readings])
    await ANALYSIS.migrate(engine)
    async with engine.connect() as connection:
        kept = (await connection.execute(sa.text(
            "SELECT session_id, up_to_sequence FROM analysis.voice_analysis WHERE call_measures IS NOT NULL "
            "AND call_tally IS NOT NULL ORDER BY session_id, up_to_sequence"))).all()
    assert [tuple(row) for row in kept] == [*(("long", n) for n in range(70, 121, 10)),
                                            *(("short", n) for n in (10, 20, 30))]


async def test_stored_corpus_audits_and_what_refers_to_them_take_the_corpus_collection(engine):
    """Revision 0003 renames the corpus's audits "corpusAudits/{id}": in the audit, its training event and the
    findings of evolution runs; the analysis service's names they were copied from stay as they are."""
    await upgrade(engine, LEARNING.package, LEARNING.schema, "0002")
    audit = {"name": "audits/a1", "source_audit": "audits/a1", "persona": "personas/p", "session": "sessions/s"}
    run = {"name": "evolutionRuns/r1", "identify_patterns": {"findings": [{
        "evidence_audits": ["audits/a1"], "evidence_quotes": [{"audit": "audits/a1", "text": "see audits/a1"}]}]}}
    async with engine.begin() as connection:
        await connection.execute(sa.text(
            "INSERT INTO learning.audits (id, session, persona, archetype, difficulty, document, audit_time) "
            "VALUES ('a1', 'sessions/s', 'personas/p', '', 3, CAST(:document AS jsonb), now())"),
            {"document": json.dumps(audit)})
        await connection.execute(sa.text(
            "INSERT INTO learning.training_events (id, source, origin, persona, module, signal) VALUES "
            "('e1', 'TRAINING_EVENT_SOURCE_PERSONA_AUDIT', 'audits/a1', 'personas/p', 'brevity', 0.5), "
            "('e2', 'TRAINING_EVENT_SOURCE_FEEDBACK', 'feedback/t1', 'personas/p', 'brevity', 0.5)"))
        await connection.execute(sa.text(
            "INSERT INTO learning.runs (id, kind, scope, state, trigger, document) VALUES "
            "('r1', 'evolution', '', 'RUN_STATE_SUCCEEDED', 'RUN_TRIGGER_MANUAL', CAST(:document AS jsonb))"),
            {"document": json.dumps(run)})
    await LEARNING.migrate(engine)
    async with engine.connect() as connection:
        stored = await connection.scalar(sa.text("SELECT document FROM learning.audits"))
        origins = (await connection.execute(sa.text(
            "SELECT origin FROM learning.training_events ORDER BY id"))).scalars().all()
        finding = (await connection.scalar(sa.text(
            "SELECT document FROM learning.runs")))["identify_patterns"]["findings"][0]
    assert (stored["name"], stored["source_audit"]) == ("corpusAudits/a1", "audits/a1")
    assert origins == ["corpusAudits/a1", "feedback/t1"]
    assert finding == {"evidence_audits": ["corpusAudits/a1"],
                       "evidence_quotes": [{"audit": "corpusAudits/a1", "text": "see audits/a1"}]}


async def test_stored_evolution_runs_name_their_engines_as_the_analysis_service_does(engine):
    """Revision 0004 renames the engines of stored evolution runs "local" and "openai": in their options, their
    refinements stage and every validation result; other text that spells a proto name stays as it is."""
    await upgrade(engine, LEARNING.package, LEARNING.schema, "0003")
    run = {"name": "evolutionRuns/r1", "options": {"engine": "ENGINE_OPENAI", "audit_limit": 200},
           "generate_refinements": {"engine": "ENGINE_OPENAI", "refinements": []},
           "validate": {"results": [{"engine": "ENGINE_LOCAL", "explanation": "ENGINE_LOCAL stood in"},
                                    {"engine": "ENGINE_OPENAI", "explanation": ""}]}}
    async with engine.begin() as connection:
        await connection.execute(sa.text(
            "INSERT INTO learning.runs (id, kind, scope, state, trigger, document) VALUES "
            "('r1', 'evolution', '', 'RUN_STATE_SUCCEEDED', 'RUN_TRIGGER_MANUAL', CAST(:document AS jsonb))"),
            {"document": json.dumps(run)})
    await LEARNING.migrate(engine)
    async with engine.connect() as connection:
        stored = await connection.scalar(sa.text("SELECT document FROM learning.runs"))
    assert stored["options"] == {"engine": "openai", "audit_limit": 200}
    assert stored["generate_refinements"]["engine"] == "openai"
    assert stored["validate"]["results"] == [{"engine": "local", "explanation": "ENGINE_LOCAL stood in"},
                                             {"engine": "openai", "explanation": ""}]


async def test_stored_learning_rows_join_the_migration_organization_and_ids_repeat_across_organizations(
        engine, monkeypatch):
    """Revision 0005 gives every row stored before it the organization SPARRING_MIGRATION_ORGANIZATION names; the
    column keeps no default, and ids are then unique per organization."""
    await upgrade(engine, LEARNING.package, LEARNING.schema, "0004")
    rows = [
        "INSERT INTO learning.audits (id, session, persona, archetype, difficulty, document, audit_time) "
        "VALUES ('a1', 'sessions/s', 'personas/p', '', 3, '{}', now())",
        "INSERT INTO learning.patches (id, archetype, target, operation, state, document) "
        "VALUES ('p1', '', 'PATCH_TARGET_VOICE_PROMPT', 'PATCH_OPERATION_ADD_RULE', 'PATCH_STATE_PROPOSED', '{}')",
        "INSERT INTO learning.patch_revisions (patch_id, revision, action, actor, reason, snapshot) "
        "VALUES ('p1', 1, 'PATCH_ACTION_CREATE', 'someone', '', '{}')",
        "INSERT INTO learning.experiments (id, state, document) VALUES ('x1', 'EXPERIMENT_STATE_RUNNING', '{}')",
        "INSERT INTO learning.assignments (experiment_id, session_id, variant_id, persona) "
        "VALUES ('x1', 's1', 'a', 'personas/p')",
        "INSERT INTO learning.outcomes (experiment_id, session_id, say_meter_score) VALUES ('x1', 's1', 50)",
        "INSERT INTO learning.request_log (request_id, method, fingerprint) VALUES ('r1', 'CreatePromptPatch', 'f')",
    ]
    async with engine.begin() as connection:
        for row in rows:
            await connection.execute(sa.text(row))
    monkeypatch.setenv("SPARRING_MIGRATION_ORGANIZATION", "initech")
    await LEARNING.migrate(engine)
    async with engine.begin() as connection:
        for table in ("audits", "patches", "patch_revisions", "experiments", "assignments", "outcomes",
                      "request_log"):
            assert (await connection.execute(sa.text(
                f"SELECT DISTINCT organization FROM learning.{table}"))).scalars().all() == ["initech"], table
        columns = (await connection.execute(sa.text(
            "SELECT is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = 'learning' AND column_name = 'organization' AND table_name <> 'audit_log'"))).all()
        assert len(columns) == 12 and set(columns) == {("NO", None)}
        for row in rows:  # the same ids, in another organization
            await connection.execute(sa.text(row.replace(" (", " (organization, ", 1)
                                             .replace("VALUES (", "VALUES ('acme', ", 1)))


async def test_stored_catalogue_rows_go_to_the_organization_the_migration_is_given(engine, monkeypatch):
    """Persona revision 0002 gives every stored row the organization SPARRING_MIGRATION_ORGANIZATION names, then
    leaves the column without a default: from then on every write names its organization."""
    await upgrade(engine, PERSONA.package, PERSONA.schema, "0001")
    async with engine.begin() as connection:
        for statement in (
            "INSERT INTO persona.archetypes (id, display_name) VALUES ('owl', 'Owl')",
            "INSERT INTO persona.personas (id, slug, display_name, blueprint, difficulty, archetype_id, fields,"
            " revision, create_time, update_time) VALUES ('p', 'p', 'P', 'sales', 3, 'owl', '{}', 1, now(), now())",
            "INSERT INTO persona.persona_versions (persona_id, revision, change_kind, snapshot, create_time)"
            " VALUES ('p', 1, 'create', '{}', now())",
            "INSERT INTO persona.scenarios (id, display_name, fields, revision, create_time, update_time)"
            " VALUES ('s', 'S', '{}', 1, now(), now())",
        ):
            await connection.execute(sa.text(statement))
    monkeypatch.setenv("SPARRING_MIGRATION_ORGANIZATION", "initech")
    await PERSONA.migrate(engine)
    tables = ("archetypes", "personas", "persona_versions", "scenarios")
    async with engine.connect() as connection:
        for table in tables:
            stored = await connection.scalars(sa.text(f"SELECT organization FROM persona.{table}"))
            assert list(stored) == ["initech"], table
        columns = (await connection.execute(sa.text(
            "SELECT table_name, is_nullable, column_default FROM information_schema.columns"
            " WHERE table_schema = 'persona' AND column_name = 'organization' AND table_name <> 'audit_log'"
            " ORDER BY table_name"))).all()
    # Tables of later revisions carry the column too, on the same terms.
    assert {table for table, _, _ in columns} >= {*tables, "request_log"}
    assert [tuple(column) for column in columns] == [(table, "NO", None) for table, _, _ in columns]


async def test_stored_analyses_audits_and_request_ids_take_the_organization_the_migration_names(engine, monkeypatch):
    """Revision 0009 gives rows written before it the organization SPARRING_MIGRATION_ORGANIZATION names; then
    the column has no default, and what was unique is unique per organization."""
    await upgrade(engine, ANALYSIS.package, ANALYSIS.schema, "0008")
    async with engine.begin() as connection:
        await connection.execute(sa.text(
            "INSERT INTO analysis.voice_analysis (id, analysis_id, session_id, kind, position, up_to_sequence, "
            "trigger_id) VALUES ('meter', 'a1', 's', 'say_meter', 0, 4, 'seq-4')"))
        await connection.execute(sa.text(
            "INSERT INTO analysis.persona_audits (id, session_id, persona, persona_display_name, blueprint, audit, "
            "engine, engine_fallback) VALUES ('audit', 's', 'personas/p', 'P', 'sales', '{}', 'local', false)"))
        await connection.execute(sa.text(
            "INSERT INTO analysis.request_log (request_id, method, fingerprint) VALUES ('r1', 'm', 'f')"))
    monkeypatch.setenv("SPARRING_MIGRATION_ORGANIZATION", "acme")
    await ANALYSIS.migrate(engine)
    async with engine.begin() as connection:
        organizations = [(await connection.scalar(sa.text(f"SELECT organization FROM analysis.{table}")))
                         for table in ("voice_analysis", "persona_audits", "request_log")]
        assert organizations == ["acme"] * 3
        # The same trigger, session and request id in another organization are new rows, not conflicts.
        await connection.execute(sa.text(
            "INSERT INTO analysis.voice_analysis (id, organization, analysis_id, session_id, kind, position, "
            "up_to_sequence, trigger_id) VALUES ('other', 'globex', 'a2', 's', 'say_meter', 0, 4, 'seq-4')"))
        await connection.execute(sa.text(
            "INSERT INTO analysis.persona_audits (id, organization, session_id, persona, persona_display_name, "
            "blueprint, audit, engine, engine_fallback) "
            "VALUES ('audit-2', 'globex', 's', 'personas/p', 'P', 'sales', '{}', 'local', false)"))
        await connection.execute(sa.text(
            "INSERT INTO analysis.request_log (organization, request_id, method, fingerprint) "
            "VALUES ('globex', 'r1', 'm', 'f')"))
    with pytest.raises(sa.exc.IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(sa.text(
                "INSERT INTO analysis.request_log (request_id, method, fingerprint) VALUES ('r2', 'm', 'f')"))
