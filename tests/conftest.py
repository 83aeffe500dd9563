"""Test fixtures: one embedded PostgreSQL per run (data kept under .data/, reused), a fresh database
per test session, and the services migrated into it."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from svckit import eventloop
from svckit.db import make_engine
from svckit.embedded_pg import EmbeddedPostgres
from tests.security import use_test_credentials

ROOT = Path(__file__).resolve().parent.parent
# Every server of the tests, in this process or started from it, serves TLS and checks tokens.
use_test_credentials()


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict:
    """Tests run on the event loop the services run on."""
    return {"uvloop": eventloop.new_event_loop}


@pytest.fixture(scope="session")
def server_url() -> str:
    """A PostgreSQL server: $TEST_DATABASE_URL if set, else the embedded one."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    embedded = EmbeddedPostgres(ROOT / ".data" / "postgres-test")
    url = embedded.start()
    yield url
    embedded.stop()


def _with_database(url: str, database: str) -> str:
    head, _, query = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{query}" if query else "")


def _admin(server_url: str, sql: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(server_url)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run())


def _new_database(server_url: str):
    name = f"sparring_test_{uuid.uuid4().hex[:12]}"
    _admin(server_url, f'CREATE DATABASE "{name}"')
    yield _with_database(server_url, name)
    _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(server_url: str) -> str:
    """A new, empty database shared by this test session, dropped at the end."""
    yield from _new_database(server_url)


@pytest.fixture
def own_database_url(server_url: str) -> str:
    """A new, empty database for one test that needs the whole database to itself."""
    yield from _new_database(server_url)


@pytest_asyncio.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator:
    engine = make_engine(database_url, pool_size=10)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(scope="session")
async def persona_schema(engine) -> None:
    from persona_svc.app import SPEC

    await SPEC.migrate(engine)


@pytest_asyncio.fixture(scope="session")
async def transcript_schema(engine) -> None:
    from transcript_svc.app import SPEC

    await SPEC.migrate(engine)


@pytest_asyncio.fixture(scope="session")
async def analysis_schema(engine) -> None:
    from analysis_svc.app import SPEC

    await SPEC.migrate(engine)


@pytest_asyncio.fixture(scope="session")
async def learning_schema(engine) -> None:
    from learning_svc.app import SPEC

    await SPEC.migrate(engine)
