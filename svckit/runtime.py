"""The process entry point shared by the four services: settings, logging, database, migrations, serve."""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from svckit import eventloop
from svckit.db import make_engine
from svckit.eventloop import LagMonitor
from svckit.gcstats import settle_after_startup
from svckit.logs import configure_logging
from svckit.migrations import upgrade
from svckit.server import GrpcApp, serve_until_signal, start_metrics_endpoint
from svckit.settings import ServiceSettings

log = logging.getLogger("svckit.runtime")

S = TypeVar("S", bound=ServiceSettings)


@dataclass(frozen=True)
class ServiceSpec(Generic[S]):
    """A service as the entry point runs it; ``build`` takes the service's own settings class."""

    name: str
    package: str
    schema: str
    settings_cls: type[S]
    build: Callable[[S, AsyncEngine], Awaitable[GrpcApp]]

    def engine(self, settings: ServiceSettings) -> AsyncEngine:
        if not settings.database_url:
            raise SystemExit(
                f"{self.name}: DATABASE_URL is not set. `make run` starts an embedded PostgreSQL and sets it; "
                "to run one service alone, point DATABASE_URL at a PostgreSQL database."
            )
        return make_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            application_name=f"sparring-{self.name}",
        )

    async def migrate(self, engine: AsyncEngine) -> None:
        await upgrade(engine, self.package, self.schema)


async def _serve(spec: ServiceSpec[Any]) -> None:
    settings = spec.settings_cls()
    configure_logging(spec.name, settings.log_level, settings.log_json)
    engine = spec.engine(settings)
    await spec.migrate(engine)
    app = await spec.build(settings, engine)
    app.host, app.port, app.health_port = settings.grpc_host, settings.grpc_port, settings.health_port
    app.on_close.append(engine.dispose)
    metrics_port = start_metrics_endpoint(settings.grpc_host, settings.metrics_port)
    settle_after_startup()
    lag = LagMonitor()
    lag.start()
    app.on_close.append(lag.stop)
    await app.start()
    log.info("%s ready: grpc %s, metrics http://%s:%d/metrics", spec.name, app.address, settings.grpc_host,
             metrics_port)
    await serve_until_signal(app, settings.shutdown_grace_seconds, settings.drain_seconds)


def main(spec: ServiceSpec[Any]) -> None:
    try:
        eventloop.run(_serve(spec))
    except KeyboardInterrupt:
        sys.exit(130)
