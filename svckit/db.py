"""One async engine per process, units of work, and idempotent request records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from svckit.errors import FieldViolation, InvalidArgument
from svckit.notify import notifications

T = TypeVar("T")


def async_url(url: str) -> str:
    """A libpq-style URL (``postgresql://...``) turned into the asyncpg dialect SQLAlchemy wants."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def make_engine(url: str, *, pool_size: int = 10, statement_timeout_ms: int = 5000,
                application_name: str = "sparring") -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        pool_recycle=1800,
        connect_args={
            "server_settings": {
                "application_name": application_name,
                "statement_timeout": str(statement_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
            },
            "timeout": 10,
        },
    )


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """``engine``'s pool, for reads outside a transaction (make it once: each call builds a new view).

    A plain connection opens a transaction at its first statement and rolls it back when it goes back to
    the pool: BEGIN and ROLLBACK, two round trips more for every read. Under READ COMMITTED each statement
    sees its own snapshot anyway, so a read made of several statements gives up nothing without them."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


class LastWrites:
    """Writes of a transaction that nothing in it reads back, sent at its commit as data-modifying CTEs of one last
    statement, with what it announces (NOTIFY): one round trip for all of them instead of one each.

    Only for writes that cannot fail on their own (an error would surface at the commit) and that touch no row
    another of them touches: the CTEs of one statement do not see each other's changes."""

    def __init__(self) -> None:
        self._writes: list[sa.UpdateBase] = []

    def add(self, statement: sa.UpdateBase) -> None:
        self._writes.append(statement)

    async def send(self, connection: AsyncConnection, announcements: Sequence[tuple[str, str]] = ()) -> None:
        writes, self._writes = self._writes, []
        if not writes and not announcements:
            return
        last = sa.select(*notifications(announcements)) if announcements else sa.select(sa.literal(1))
        await connection.execute(last.add_cte(*(write.cte(f"last_write_{n}") for n, write in enumerate(writes))))


class UnitOfWork:
    """One transaction: ``async with uow: ...; await uow.commit()``; anything uncommitted rolls back.

    On an ``autocommit`` engine it is a read: no transaction, nothing to commit."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.read_only = engine.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        self.connection: AsyncConnection
        self.last_writes: LastWrites

    def bind(self, connection: AsyncConnection) -> None:
        """Subclasses create their repositories on the connection here."""

    async def __aenter__(self):
        self.connection = await self._engine.connect()
        if not self.read_only:
            await self.connection.begin()
        self.last_writes = LastWrites()
        self.bind(self.connection)
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        try:
            if self.connection.in_transaction():
                await self.connection.rollback()
        finally:
            await self.connection.close()

    def announcements(self) -> Sequence[tuple[str, str]]:
        """What the transaction announces at its commit, (NOTIFY channel, payload) each: subclasses that announce."""
        return ()

    async def commit(self) -> None:
        if self.read_only:
            raise RuntimeError("a read (a unit of work on an autocommit engine) has nothing to commit")
        await self.last_writes.send(self.connection, self.announcements())
        await self.connection.commit()


def request_log_table(metadata: sa.MetaData, per_organization: bool = False) -> sa.Table:
    """Responses of mutating requests by ``request_id``, so a retried request is answered, not re-run;
    ``per_organization``: request ids are keyed within an ``organization`` column."""
    scope = [sa.Column("organization", sa.Text, primary_key=True)] if per_organization else []
    return sa.Table(
        "request_log",
        metadata,
        *scope,
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("response", JSONB),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


class RequestLog:
    """Idempotency of one transaction.

    ``claim`` inserts the request id first: a concurrent retry blocks on the row until the
    first attempt commits (then replays its response) or rolls back (then runs itself).
    With an ``organization`` (on a table made ``per_organization``), request ids are that organization's.
    """

    def __init__(self, connection: AsyncConnection, table: sa.Table, organization: str | None = None,
                 last_writes: LastWrites | None = None) -> None:
        """``last_writes``: where ``record`` leaves the response, if the transaction sends its last writes together."""
        self._connection = connection
        self._table = table
        self._scope = {} if organization is None else {"organization": organization}
        self._last_writes = last_writes

    def _key(self, request_id: str) -> list[sa.ColumnElement[bool]]:
        return [self._table.c[column] == value for column, value in {**self._scope, "request_id": request_id}.items()]

    async def claim(self, request_id: str, method: str, fingerprint: str) -> Any | None:
        """None when this request is new; else the recorded response of the first one."""
        if len(request_id) > 200:
            raise InvalidArgument(FieldViolation("request_id", "must be at most 200 characters"))
        if "\x00" in request_id:
            raise InvalidArgument(FieldViolation("request_id", "must not contain NUL characters"))
        inserted = await self._connection.execute(
            insert(self._table)
            .values(**self._scope, request_id=request_id, method=method, fingerprint=fingerprint)
            .on_conflict_do_nothing()
            .returning(self._table.c.request_id)
        )
        if inserted.first() is not None:
            return None
        row = (
            await self._connection.execute(
                sa.select(self._table.c.method, self._table.c.fingerprint, self._table.c.response).where(
                    *self._key(request_id)
                )
            )
        ).one()
        if row.method != method or row.fingerprint != fingerprint:
            raise InvalidArgument(
                FieldViolation("request_id", f"{request_id!r} was already used for a different request")
            )
        return row.response

    async def record(self, request_id: str, response: Any) -> None:
        # The JSONB column serializes the value itself; a pre-dumped string would be stored as a JSON string.
        recorded = sa.update(self._table).where(*self._key(request_id)).values(response=response)
        if self._last_writes is not None:
            self._last_writes.add(recorded)
        else:
            await self._connection.execute(recorded)
