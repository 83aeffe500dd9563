"""Group commit of utterances: every live stream's utterances share a few transactions a second.

One writer task takes whatever is queued (up to ``max_batch`` utterances; when it was idle, it
waits at most ``max_delay`` for more after the first), stores it in one transaction on its own
connection and resolves each utterance's future. In that same transaction it advances
each session's durable sequence and writes the analysis requests that fell due, so an
acknowledged utterance and the triggers it caused are durable together.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from enum import Enum

import asyncpg
from prometheus_client import Counter, Histogram

from svckit.notify import libpq_url
from transcript_svc.adapters.channels import OUTBOX_CHANNEL
from transcript_svc.domain.model import Utterance, analysis_due

log = logging.getLogger("transcript.group_commit")

GROUP_SIZE = Histogram(
    "sparring_transcript_commit_group_size", "Utterances per group commit.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
COMMIT_SECONDS = Histogram(
    "sparring_transcript_commit_seconds", "Duration of one group commit transaction.",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
MESSAGES_STORED = Counter("sparring_transcript_messages_stored_total", "Utterances committed (duplicates excluded).")
TRIGGERS_ENQUEUED = Counter("sparring_transcript_triggers_enqueued_total", "Analysis requests written to the outbox.")

_DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)  # TimeoutError is an OSError


class Outcome(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # already stored with the same role and text
    CONFLICT = "conflict"  # already stored with another role or text


@dataclass
class _Pending:
    session_id: str
    utterance: Utterance
    future: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


_INSERT = """
INSERT INTO transcript.messages (session_id, sequence, role, text, spoken_time, word_count)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::int[])
ON CONFLICT (session_id, sequence) DO NOTHING
RETURNING session_id, sequence
"""
_STORED = """
SELECT m.session_id, m.sequence, m.role, m.text
FROM transcript.messages m
JOIN unnest($1::text[], $2::bigint[]) AS k(session_id, sequence)
  ON m.session_id = k.session_id AND m.sequence = k.sequence
"""
_ADVANCE = """
WITH v AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS v(id, top)),
     before AS (SELECT s.id, s.last_sequence FROM transcript.sessions s JOIN v ON v.id = s.id)
UPDATE transcript.sessions s
SET last_sequence = greatest(s.last_sequence, v.top)
FROM v, before
WHERE s.id = v.id AND before.id = v.id
RETURNING s.id, before.last_sequence AS previous, s.last_sequence, s.analysis_interval
"""
_ENQUEUE = """
INSERT INTO transcript.outbox (session_id, kind, up_to_sequence)
SELECT session_id, 'analysis', up_to FROM unnest($1::text[], $2::bigint[]) AS t(session_id, up_to)
ON CONFLICT (session_id, kind, up_to_sequence) DO NOTHING
"""


class GroupCommitter:
    def __init__(self, database_url: str, max_batch: int = 500, max_delay: float = 0.002,
                 max_queued: int = 50_000) -> None:
        self._url = libpq_url(database_url)
        self._max_batch = max_batch
        self._max_delay = max_delay
        # Bounded: a slow database fills it, then submitters wait (and streams stop reading).
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=max_queued)
        self._task: asyncio.Task | None = None
        self._connection: asyncpg.Connection | None = None

    async def start(self) -> None:
        self._connection = await asyncpg.connect(self._url, timeout=10)
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        """Commits what is queued, then stops."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), timeout=10)
        except TimeoutError:
            log.warning("stopping with %d utterances uncommitted", self._queue.qsize())
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        if self._connection is not None:
            await self._connection.close()

    async def submit(self, session_id: str, utterance: Utterance) -> asyncio.Future:
        """Queues an utterance; the returned future gives its ``Outcome`` once committed."""
        pending = _Pending(session_id, utterance)
        await self._queue.put(pending)
        return pending.future

    async def _run(self) -> None:
        while True:
            # Waiting for company only pays when the writer was idle: what queued up during the previous
            # commit is a group already, and waiting would only add to its latency.
            idle = self._queue.empty()
            batch = [await self._queue.get()]
            deadline = time.monotonic() + (self._max_delay if idle else 0.0)
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                    except TimeoutError:
                        break
            try:
                await self._commit_and_resolve(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit_and_resolve(self, batch: list[_Pending]) -> None:
        """Commits a group and resolves its futures; a failure fails only the sessions it belongs to.

        When the database refuses a group of several sessions (one session's data, a deadlock, a
        lost connection), each session's part is committed again on its own: a retry is safe (a
        stored utterance comes back DUPLICATE), and one session's bad utterance does not end the
        other sessions' streams. Whatever fails is handed to its futures; the writer goes on.
        """
        try:
            outcomes = await self._commit(batch)
        except Exception as error:  # the writer must outlive any one group, or every stream would hang
            expected = isinstance(error, _DATABASE_ERRORS)
            log.warning("group commit of %d utterances failed: %s", len(batch), error, exc_info=not expected)
            await self._reconnect()
            parts: dict[str, list[_Pending]] = {}
            for pending in batch:
                parts.setdefault(pending.session_id, []).append(pending)
            if len(parts) > 1 and expected:
                for part in parts.values():
                    await self._commit_and_resolve(part)
                return
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
            return
        for pending, outcome in zip(batch, outcomes, strict=True):
            if not pending.future.done():
                pending.future.set_result(outcome)

    async def _reconnect(self) -> None:
        if self._connection is not None and not self._connection.is_closed():
            return
        while True:
            try:
                self._connection = await asyncpg.connect(self._url, timeout=10)
                return
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                log.warning("reconnecting the group-commit connection failed: %s", error)
                await asyncio.sleep(0.5)  # reconnect back-off

    async def _commit(self, batch: list[_Pending]) -> list[Outcome]:
        started = time.perf_counter()
        connection = self._connection
        assert connection is not None
        # A resend can meet its original in the same batch: only the first of a key is written.
        first: dict[tuple[str, int], _Pending] = {}
        for p in batch:
            first.setdefault((p.session_id, p.utterance.sequence), p)
        unique = list(first.values())
        async with connection.transaction():
            inserted = {
                (row["session_id"], row["sequence"])
                for row in await connection.fetch(
                    _INSERT, [p.session_id for p in unique], [p.utterance.sequence for p in unique],
                    [p.utterance.role.value for p in unique], [p.utterance.text for p in unique],
                    [p.utterance.spoken_time for p in unique], [p.utterance.word_count for p in unique],
                )
            }
            stored = {}
            if len(inserted) < len(unique):
                rest = [p for p in unique if (p.session_id, p.utterance.sequence) not in inserted]
                for row in await connection.fetch(_STORED, [p.session_id for p in rest],
                                                  [p.utterance.sequence for p in rest]):
                    stored[(row["session_id"], row["sequence"])] = (row["role"], row["text"])
            tops: dict[str, int] = {}
            for p in unique:
                if (p.session_id, p.utterance.sequence) in inserted:
                    tops[p.session_id] = max(tops.get(p.session_id, 0), p.utterance.sequence)
            due_sessions, due_sequences = [], []
            if tops:
                for row in await connection.fetch(_ADVANCE, list(tops), list(tops.values())):
                    for up_to in analysis_due(row["previous"], row["last_sequence"], row["analysis_interval"]):
                        due_sessions.append(row["id"])
                        due_sequences.append(up_to)
            if due_sessions:
                await connection.execute(_ENQUEUE, due_sessions, due_sequences)
                await connection.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)
        outcomes = []
        for p in batch:
            key = (p.session_id, p.utterance.sequence)
            original = first[key]
            if p is original and key in inserted:
                outcomes.append(Outcome.STORED)
            else:
                kept = (original.utterance.role.value, original.utterance.text) if key in inserted else stored.get(key)
                same = kept == (p.utterance.role.value, p.utterance.text)
                outcomes.append(Outcome.DUPLICATE if same else Outcome.CONFLICT)
        GROUP_SIZE.observe(len(batch))
        COMMIT_SECONDS.observe(time.perf_counter() - started)
        MESSAGES_STORED.inc(len(inserted))
        TRIGGERS_ENQUEUED.inc(len(due_sessions))
        return outcomes
