"""PostgreSQL LISTEN on a dedicated connection that reconnects by itself.

What must cross replicas (a cache entry gone stale, a command for a stream held
elsewhere) crosses as NOTIFY. While the connection is down nothing is heard, so
``on_connected`` runs after every (re)connect: a listener that caches drops it all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import sqlalchemy as sa
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger("svckit.notify")

LISTENER_CONNECTED = Gauge(
    "sparring_pg_listener_connected", "1 while the LISTEN connection is up.", ("listener",)
)
LISTENER_RECONNECTS = Counter(
    "sparring_pg_listener_reconnects_total", "LISTEN connections re-established after a loss.", ("listener",)
)
NOTIFICATIONS_RECEIVED = Counter(
    "sparring_pg_notifications_received_total", "NOTIFY payloads received.", ("listener", "channel")
)


def libpq_url(url: str) -> str:
    """asyncpg takes libpq URLs; SQLAlchemy ones name the driver."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class PgListener:
    def __init__(
        self,
        name: str,
        database_url: str,
        channels: dict[str, Callable[[str], None]],
        on_connected: Callable[[], Awaitable[None] | None] | None = None,
        on_disconnected: Callable[[], None] | None = None,
        max_backoff_seconds: float = 5.0,
    ) -> None:
        self._name = name
        self._url = libpq_url(database_url)
        # Named in pg_stat_activity, unless the URL names it already.
        self._settings = {} if "application_name=" in self._url else {"application_name": f"sparring-{name}-listener"}
        self._channels = channels
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._max_backoff = max_backoff_seconds
        self._task: asyncio.Task | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"pg-listener-{self._name}")
        await asyncio.wait_for(self.connected.wait(), timeout=15)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        backoff = 0.1
        first = True
        while True:
            lost = asyncio.Event()
            connection = None
            try:
                connection = await asyncpg.connect(self._url, timeout=10, server_settings=self._settings)
                connection.add_termination_listener(lambda _conn, lost=lost: lost.set())
                for channel, handler in self._channels.items():
                    await connection.add_listener(channel, self._dispatch(channel, handler))
                if not first:
                    LISTENER_RECONNECTS.labels(self._name).inc()
                first = False
                if self._on_connected:
                    result = self._on_connected()
                    if asyncio.iscoroutine(result):
                        await result
                LISTENER_CONNECTED.labels(self._name).set(1)
                self.connected.set()
                backoff = 0.1
                await lost.wait()
                log.warning("LISTEN connection of %s lost; reconnecting", self._name)
            except asyncio.CancelledError:
                if connection is not None:
                    await connection.close(timeout=2)
                raise
            except (TimeoutError, OSError, asyncpg.PostgresError) as error:
                log.warning("LISTEN connection of %s failed (%s); retrying in %.1fs", self._name, error, backoff)
            self.connected.clear()
            LISTENER_CONNECTED.labels(self._name).set(0)
            if self._on_disconnected:
                self._on_disconnected()
            await asyncio.sleep(backoff)  # reconnect back-off, not synchronisation
            backoff = min(backoff * 2, self._max_backoff)

    def _dispatch(self, channel: str, handler: Callable[[str], None]):
        def receive(_connection, _pid, _channel, payload: str) -> None:
            NOTIFICATIONS_RECEIVED.labels(self._name, channel).inc()
            handler(payload)

        return receive


async def notify(connection: AsyncConnection, channel: str, payload: str = "") -> None:
    """Announces ``payload`` on ``channel`` when the connection's transaction commits (not before)."""
    await notify_all(connection, [(channel, payload)])


async def notify_all(connection: AsyncConnection, announcements: Sequence[tuple[str, str]]) -> None:
    """Announces each ``(channel, payload)`` when the connection's transaction commits, all in one statement."""
    if announcements:
        await connection.execute(sa.select(*notifications(announcements)))


def notifications(announcements: Sequence[tuple[str, str]]) -> list[sa.ColumnElement[Any]]:
    """``pg_notify`` of each ``(channel, payload)``, to select in a statement."""
    return [sa.func.pg_notify(channel, payload) for channel, payload in announcements]
