"""The window of a live reading, read here and sent with the reading's request, so that the analysis service need
not read it back (two calls of this service and their reads) before every reading.

A window that cannot be read in time is left out: the analysis service then reads it back as it would have."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError

from calls.turns import DEFAULT_WINDOW
from transcript_svc.domain.model import Message, Session
from transcript_svc.service_layer.ports import TranscriptUnitOfWork

log = logging.getLogger("transcript.reading_windows")

READING_WINDOW_READS = Counter("sparring_transcript_reading_window_reads_total",
                               "Windows read to send with a live reading's request, by result: read, or timeout and "
                               "failed when the request went without one.", ("result",))

ReadingWindow = tuple[Session, list[Message]]


class ReadingWindows:
    def __init__(self, read: Callable[[], TranscriptUnitOfWork], timeout_seconds: float) -> None:
        self._read = read
        self._timeout = timeout_seconds

    async def window(self, organization: str, session_id: str, up_to_sequence: int) -> ReadingWindow | None:
        """The session with its last DEFAULT_WINDOW messages up to ``up_to_sequence``, in one statement; None when
        it cannot be read within the timeout, or is not found (the analysis service then says so itself)."""
        try:
            async with asyncio.timeout(self._timeout), self._read() as uow:
                found = await uow.sessions.with_last_messages(organization, session_id, up_to_sequence or None,
                                                              DEFAULT_WINDOW)
        except TimeoutError:
            READING_WINDOW_READS.labels("timeout").inc()
            return None
        except (SQLAlchemyError, OSError) as error:
            READING_WINDOW_READS.labels("failed").inc()
            log.warning("the window of sessions/%s up to %d could not be read: %s", session_id, up_to_sequence, error)
            return None
        READING_WINDOW_READS.labels("read").inc()
        return found
