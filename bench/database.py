"""The benchmark's PostgreSQL: an embedded server of its own (``.data/postgres-bench``, reused) and a fresh
database per part of a run, dropped when the part ends (and any left by an earlier run that was killed), so
that no part runs beside another's leftovers: its rows, its pending outbox, autovacuum working through them."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import asyncpg

from bench.load import watch_postgres
from svckit import eventloop
from svckit.embedded_pg import EmbeddedPostgres

PREFIX = "sparring_bench_"


def with_database(url: str, database: str) -> str:
    head, _, query = url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")


async def _admin(server_url: str, *statements: str, ignore_errors: bool = False) -> None:
    connection = await asyncpg.connect(server_url, timeout=10)
    try:
        for sql in statements:
            try:
                await connection.execute(sql)
            except asyncpg.PostgresError:
                if not ignore_errors:
                    raise
    finally:
        await connection.close()


async def _stale_databases(server_url: str) -> list[str]:
    """Databases of earlier runs that were killed before dropping theirs, and that nobody uses."""
    connection = await asyncpg.connect(server_url, timeout=10)
    try:
        rows = await connection.fetch(
            f"SELECT datname FROM pg_database d WHERE datname LIKE '{PREFIX}%' "
            "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)")
    finally:
        await connection.close()
    return [row["datname"] for row in rows]


def create_database(server_url: str) -> tuple[str, str]:
    """A new database on the server: (its name, its URL)."""
    stale = eventloop.run(_stale_databases(server_url))
    if stale:
        eventloop.run(_admin(server_url, *(f'DROP DATABASE IF EXISTS "{n}"' for n in stale), ignore_errors=True))
    name = f"{PREFIX}{uuid.uuid4().hex[:10]}"
    eventloop.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    return name, with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    try:
        eventloop.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception as error:
        print(f"bench: could not drop database {name}: {error}", flush=True)


def start_postgres(stack: contextlib.ExitStack, data_dir: Path) -> str:
    """Starts the embedded PostgreSQL, stopped when ``stack`` unwinds; returns its server URL. From then on,
    measurements count its CPU."""
    postgres = EmbeddedPostgres(data_dir)
    stack.callback(postgres.stop)
    server_url = postgres.start()
    watch_postgres(postgres.data_dir)
    return server_url


def fresh_database(stack: contextlib.ExitStack, server_url: str) -> str:
    """A new database on the server, dropped when ``stack`` unwinds; returns its URL."""
    name, url = create_database(server_url)
    stack.callback(drop_database, server_url, name)
    return url


async def checkpoint(database_url: str) -> None:
    """Flushes what earlier phases wrote, so that a checkpoint's disk flush does not fall inside the next
    latency measurement (it would measure the disk's backlog, not the service)."""
    await _admin(database_url, "CHECKPOINT")
