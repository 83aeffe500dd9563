"""Alembic migrations, one history per service, each kept inside the service's own schema.

A service's ``migrations/env.py`` is two lines: ``from svckit.migrations import run_env;
run_env("persona")``. ``upgrade`` runs them under an advisory lock, so replicas
starting together migrate once.
"""

from __future__ import annotations

import importlib.resources
import zlib

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

VERSION_TABLE = "alembic_version"


def alembic_config(service_package: str, schema: str) -> Config:
    config = Config()
    location = importlib.resources.files(service_package) / "migrations"
    config.set_main_option("script_location", str(location))
    config.attributes["schema"] = schema
    return config


def run_env(schema: str) -> None:
    """Body of a service's env.py: runs on the connection ``upgrade`` handed over."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table_schema=schema,
        version_table=VERSION_TABLE,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


async def upgrade(engine: AsyncEngine, service_package: str, schema: str, revision: str = "head") -> None:
    config = alembic_config(service_package, schema)
    lock_key = zlib.crc32(f"sparring.migrate.{schema}".encode())
    async with engine.begin() as connection:
        await connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
        await connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))

        def _run(sync_connection) -> None:
            config.attributes["connection"] = sync_connection
            command.upgrade(config, revision)

        await connection.run_sync(_run)


async def current_revision(engine: AsyncEngine, schema: str) -> str | None:
    async with engine.connect() as connection:
        exists = await connection.scalar(
            sa.text("SELECT to_regclass(:table) IS NOT NULL"), {"table": f'"{schema}".{VERSION_TABLE}'}
        )
        if not exists:
            return None
        return await connection.scalar(sa.text(f'SELECT version_num FROM "{schema}".{VERSION_TABLE}'))


def statements(script: str) -> list[str]:
    """Splits a SQL script on semicolons outside $$-quoted bodies and -- comments."""
    parts, current, in_body = [], [], False
    for line in script.splitlines():
        stripped = line.strip()
        if not in_body and stripped.startswith("--"):
            continue
        current.append(line)
        if line.count("$$") % 2:
            in_body = not in_body
        if not in_body and stripped.endswith(";"):
            parts.append("\n".join(current).strip().rstrip(";"))
            current = []
    tail = "\n".join(current).strip()
    if tail:
        parts.append(tail)
    return [p for p in parts if p]


def execute_script(script: str) -> None:
    """Runs a multi-statement DDL script inside a migration, one statement at a time."""
    from alembic import op

    for statement in statements(script):
        op.execute(statement)


def add_organization_column(schema: str, tables: tuple[str, ...]) -> None:
    """Inside a migration: an ``organization`` column on each of ``tables``, the rows already stored given the
    organization SPARRING_MIGRATION_ORGANIZATION names ("development" unless set), then no default, so every
    later write names its own. A default on ADD COLUMN fills existing rows without rewriting them one by one."""
    import os

    from sqlalchemy.dialects import postgresql

    organization = os.environ.get("SPARRING_MIGRATION_ORGANIZATION", "development")
    quoted = sa.literal(organization).compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    execute_script("".join(f"ALTER TABLE {schema}.{table} ADD COLUMN organization text NOT NULL DEFAULT {quoted};\n"
                           f"ALTER TABLE {schema}.{table} ALTER COLUMN organization DROP DEFAULT;\n"
                           for table in tables))
