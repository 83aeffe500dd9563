"""Group commit of utterances: every live stream's utterances share a few transactions a second.

One writer task takes whatever is queued (up to ``max_batch`` utterances; when it was idle, it
waits at most ``max_delay`` for more after the first), stores it in one transaction on its own
connection and resolves each utterance's future. In that same transaction it advances
each session's durable sequence and writes the analysis requests that fell due, so an
acknowledged utterance and the triggers it caused are durable together.

A session's stored messages are always a gap-free prefix 1..last_sequence: a group stores only the
utterances that extend that prefix without a hole (``_INSERT``), and the database refuses an advance
over a missing message (a trigger on ``sessions.last_sequence``, migration 0003). An utterance above a
hole is not stored (``Outcome.GAP``). Once a commit of a stream's utterance has failed, the later
utterances that stream queued are refused too (``EarlierUtteranceFailed``) until the gateway resumes
on a new stream: its resume point is the durable sequence, and everything after it is sent again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from prometheus_client import Counter, Histogram

from guardrails.check_log import GuardrailCheck
from guardrails.risk import risk_points
from svckit.notify import libpq_url
from transcript_svc.adapters.channels import OUTBOX_CHANNEL
from transcript_svc.adapters.guardrail_check_store import (
    ADD_RISK,
    INSERT_CHECKS,
    RiskAdded,
    insert_arguments,
    risk_arguments,
)
from transcript_svc.domain.model import Outcome, Utterance, analysis_due

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
CHECKS_LOGGED = Counter("sparring_transcript_ingest_checks_logged_total",
                        "Guardrail checks of stored utterances (personal data, output filters) logged with them.")
TRIGGERS_ENQUEUED = Counter("sparring_transcript_triggers_enqueued_total", "Analysis requests written to the outbox.")
COMMIT_FAILURES = Counter(
    "sparring_transcript_commit_failures_total",
    "Utterances whose commit failed, by what became of them (retried alone, failed, refused after a failure).",
    ["outcome"],
)
RECONNECTS = Counter("sparring_transcript_commit_reconnects_total",
                     "New connections of the group committer after one failed or broke.")

# How the committer's connection shows in pg_stat_activity.
APPLICATION_NAME = "sparring-transcript-group-commit"
_DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)  # TimeoutError is an OSError
# Errors that say something about the data, not the connection: the connection is still good after them.
_DATA_ERROR_CLASSES = ("22", "23")
_RECONNECT_BACKOFF = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)  # seconds; the last repeats while the database is away
# Sessions whose stream had a commit fail, kept to refuse that stream's queued utterances; bounded.
_MAX_BROKEN_STREAMS = 10_000


class EarlierUtteranceFailed(Exception):
    """Not committed: an earlier utterance of the same stream failed to commit, so this one would leave a hole."""


class DatabaseUnavailable(ConnectionError):
    """Not committed: the committer has no connection to the database and is waiting to try again."""


class UnknownSession(LookupError):
    """Not committed: the session does not exist."""


# A session by its key: (organization, session id).
SessionKey = tuple[str, str]


@dataclass
class _Pending:
    organization: str
    session_id: str
    utterance: Utterance
    epoch: int
    checks: tuple[GuardrailCheck, ...] = ()
    alert_score: int = 0
    future: asyncio.Future[Outcome] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    @property
    def session(self) -> SessionKey:
        return self.organization, self.session_id

    def fail(self, error: Exception) -> None:
        self.future.set_exception(error)
        # A stream that ended stops awaiting its utterances; their errors need no "never retrieved" log.
        self.future.exception()


# The session rows are locked first (in a fixed order, so two replicas' groups cannot deadlock) and the
# utterances kept are those that extend the stored prefix: the n-th new sequence of a session above its
# last_sequence is kept only if it is last_sequence + n, which holds exactly up to the first hole.
_INSERT = """
WITH batch AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::timestamptz[], $7::int[],
                         $8::jsonb[])
        AS b(organization, session_id, sequence, role, text, spoken_time, word_count, flags)
), durable AS (
    SELECT s.organization, s.id, s.last_sequence FROM transcript.sessions s
    WHERE (s.organization, s.id) IN (SELECT organization, session_id FROM batch)
    ORDER BY s.organization, s.id FOR UPDATE
), fresh AS (
    SELECT b.*, d.last_sequence,
           row_number() OVER (PARTITION BY b.organization, b.session_id ORDER BY b.sequence) AS n
    FROM batch b JOIN durable d ON d.organization = b.organization AND d.id = b.session_id
    WHERE b.sequence > d.last_sequence
), extending AS (
    SELECT * FROM fresh WHERE sequence = last_sequence + n
), inserted AS (
    INSERT INTO transcript.messages (organization, session_id, sequence, role, text, spoken_time, word_count, flags)
    SELECT organization, session_id, sequence, role, text, spoken_time, word_count, flags FROM extending
    ON CONFLICT (organization, session_id, sequence) DO NOTHING
    RETURNING organization, session_id, sequence
)
SELECT d.organization, d.id AS session_id, d.last_sequence,
       (SELECT count(*) FROM extending e WHERE e.organization = d.organization AND e.session_id = d.id) AS extended,
       (SELECT array_agg(i.sequence) FROM inserted i
        WHERE i.organization = d.organization AND i.session_id = d.id) AS inserted
FROM durable d
"""
_STORED = """
SELECT m.organization, m.session_id, m.sequence, m.role, m.text
FROM transcript.messages m
JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS k(organization, session_id, sequence)
  ON m.organization = k.organization AND m.session_id = k.session_id AND m.sequence = k.sequence
"""
_ADVANCE = """
UPDATE transcript.sessions s
SET last_sequence = v.top
FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v(organization, id, top)
WHERE s.organization = v.organization AND s.id = v.id
RETURNING s.organization, s.id, s.analysis_interval
"""
# The analysis requests and their announcement in one round trip (the insert runs though nothing reads it).
_ENQUEUE = """
WITH queued AS (
    INSERT INTO transcript.outbox (organization, session_id, kind, up_to_sequence)
    SELECT organization, session_id, 'analysis', up_to
    FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(organization, session_id, up_to)
    ON CONFLICT (organization, session_id, kind, up_to_sequence) DO NOTHING
)
SELECT pg_notify($4, '')
"""


Connect = Callable[[], Awaitable[asyncpg.Connection]]


class GroupCommitter:
    def __init__(self, database_url: str, max_batch: int = 500, max_delay: float = 0.002,
                 max_queued: int = 50_000, connect: Connect | None = None) -> None:
        url = libpq_url(database_url)
        self._connect = connect or (lambda: asyncpg.connect(
            url, timeout=10, server_settings={"application_name": APPLICATION_NAME}))
        self._max_batch = max_batch
        self._max_delay = max_delay
        # Bounded: a slow database fills it, then submitters wait (and streams stop reading).
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=max_queued)
        self._task: asyncio.Task | None = None
        self._connection: asyncpg.Connection | None = None
        self._failed_connects = 0
        self._next_connect_time = 0.0
        # session -> the newest stream epoch of it whose commit failed
        self._broken: OrderedDict[SessionKey, int] = OrderedDict()

    async def start(self) -> None:
        self._connection = await self._connect()
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
            self._connection.terminate()

    async def submit(self, organization: str, session_id: str, utterance: Utterance, epoch: int = 0,
                     checks: tuple[GuardrailCheck, ...] = (), alert_score: int = 0) -> asyncio.Future[Outcome]:
        """Queues an utterance of the stream ``epoch`` with the guardrail checks made of it (logged in the same
        transaction, if it is stored, their risk added to the session, which alerts from ``alert_score``); the
        returned future gives its ``Outcome`` once committed, or the error that kept it from being committed."""
        pending = _Pending(organization, session_id, utterance, epoch, checks, alert_score)
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
                await self._commit_and_resolve(self._refuse_after_failure(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _refuse_after_failure(self, batch: list[_Pending]) -> list[_Pending]:
        """Fails the utterances of streams that already had a commit fail; returns the others.

        A newer stream of a session (the gateway resuming) clears the mark."""
        kept = []
        for pending in batch:
            failed_epoch = self._broken.get(pending.session)
            if failed_epoch is not None and pending.epoch > failed_epoch:
                del self._broken[pending.session]
                failed_epoch = None
            if failed_epoch is None:
                kept.append(pending)
            elif not pending.future.done():
                COMMIT_FAILURES.labels("refused").inc()
                pending.fail(EarlierUtteranceFailed(
                    "an earlier utterance of this stream was not committed; resume from the durable sequence"))
        return kept

    def _mark_failed(self, part: list[_Pending]) -> None:
        for pending in part:
            self._broken[pending.session] = max(pending.epoch, self._broken.get(pending.session, pending.epoch))
            self._broken.move_to_end(pending.session)
        while len(self._broken) > _MAX_BROKEN_STREAMS:
            self._broken.popitem(last=False)

    async def _commit_and_resolve(self, batch: list[_Pending]) -> None:
        """Commits a group and resolves its futures; a failure fails only the sessions it belongs to.

        When the database refuses a group (one session's data, a deadlock, a lost connection), each
        session's part is committed once more on its own, on a connection known to be good: a retry is
        safe (a stored utterance comes back DUPLICATE, and a commit whose answer was lost is found
        stored), and one session's bad utterance does not end the other sessions' streams. A part that
        fails again fails its futures and marks its stream as failed. While the database cannot be
        reached, groups fail at once rather than wait: their gateways hear it and resume later. The
        writer goes on.
        """
        if not batch:
            return
        failure: Exception
        if await self._connected():
            try:
                self._resolve(batch, await self._commit(batch))
                return
            except Exception as error:  # the writer must outlive any one group, or every stream would hang
                failure = error
            log.warning("group commit of %d utterances failed: %s", len(batch), failure,
                        exc_info=not isinstance(failure, _DATABASE_ERRORS))
            self._drop_connection_after(failure)
        else:
            failure = DatabaseUnavailable("the database cannot be reached")
        parts: dict[SessionKey, list[_Pending]] = {}
        for pending in batch:
            parts.setdefault(pending.session, []).append(pending)
        for part in parts.values():
            if isinstance(failure, _DATABASE_ERRORS) and await self._connected():
                try:
                    self._resolve(part, await self._commit(part))
                    COMMIT_FAILURES.labels("retried").inc(len(part))
                    continue
                except Exception as error:
                    failure = error
                    log.warning("commit of %d utterances of session %s failed again: %s",
                                len(part), part[0].session_id, error)
                    self._drop_connection_after(error)
            COMMIT_FAILURES.labels("failed").inc(len(part))
            self._mark_failed(part)
            for pending in part:
                if not pending.future.done():
                    pending.fail(failure)

    @staticmethod
    def _resolve(batch: list[_Pending], outcomes: list[Outcome | Exception]) -> None:
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.future.done():
                continue
            if isinstance(outcome, Exception):
                pending.fail(outcome)
            else:
                pending.future.set_result(outcome)

    def _drop_connection_after(self, error: Exception) -> None:
        """Forgets the connection unless the error was about the data: after a lost or interrupted statement
        it may be closed, or open but stuck in a half-finished operation."""
        if isinstance(error, asyncpg.PostgresError) and (error.sqlstate or "")[:2] in _DATA_ERROR_CLASSES:
            return
        if self._connection is not None:
            self._connection.terminate()
            self._connection = None

    async def _connected(self) -> bool:
        """Whether there is a usable connection, making one if needed; while connecting fails, it is tried
        again only after a back-off that grows up to a few seconds, and the groups in between fail at once."""
        if self._connection is not None and not self._connection.is_closed():
            return True
        if time.monotonic() < self._next_connect_time:
            return False
        try:
            self._connection = await self._connect()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            delay = _RECONNECT_BACKOFF[min(self._failed_connects, len(_RECONNECT_BACKOFF) - 1)]
            self._failed_connects += 1
            self._next_connect_time = time.monotonic() + delay
            log.warning("connecting the group committer failed (%s); next try in %.2fs at the earliest", error, delay)
            return False
        RECONNECTS.inc()
        self._failed_connects = 0
        return True

    async def _commit(self, batch: list[_Pending]) -> list[Outcome | Exception]:
        started = time.perf_counter()
        connection = self._connection
        assert connection is not None
        # A resend can meet its original in the same batch: only the first of a key is written.
        first: dict[tuple[str, str, int], _Pending] = {}
        for p in batch:
            first.setdefault((*p.session, p.utterance.sequence), p)
        unique = list(first.values())
        async with connection.transaction():
            written = await _insert(connection, unique)
            stored = await _stored_content(connection, unique, written)
            triggers = await _advance(connection, written)
            # Only the checks of what this group stored: a resent utterance was logged when it was first stored.
            checked = [p for p in unique if p.checks and (*p.session, p.utterance.sequence) in written.inserted]
            checks = [check for p in checked for check in p.checks]
            if checks:
                await _log_checks(connection, checked, checks)
        outcomes = [_outcome(p, first[(*p.session, p.utterance.sequence)], written, stored) for p in batch]
        GROUP_SIZE.observe(len(batch))
        COMMIT_SECONDS.observe(time.perf_counter() - started)
        MESSAGES_STORED.inc(len(written.inserted))
        TRIGGERS_ENQUEUED.inc(triggers)
        CHECKS_LOGGED.inc(len(checks))
        return outcomes


@dataclass
class _Written:
    """What a group's insert did: each locked session's durable sequence before it, its new top where the
    group extended it, and the keys inserted."""

    previous: dict[SessionKey, int] = field(default_factory=dict)
    tops: dict[SessionKey, int] = field(default_factory=dict)
    inserted: set[tuple[str, str, int]] = field(default_factory=set)


async def _insert(connection: asyncpg.Connection, unique: list[_Pending]) -> _Written:
    written = _Written()
    for row in await connection.fetch(
            _INSERT, [p.organization for p in unique], [p.session_id for p in unique],
            [p.utterance.sequence for p in unique], [p.utterance.role.value for p in unique],
            [p.utterance.text for p in unique], [p.utterance.spoken_time for p in unique],
            [p.utterance.word_count for p in unique], [_flags(p.utterance) for p in unique]):
        session = row["organization"], row["session_id"]
        written.previous[session] = row["last_sequence"]
        written.inserted.update((*session, sequence) for sequence in row["inserted"] or ())
        if row["extended"]:
            written.tops[session] = row["last_sequence"] + row["extended"]
    return written


async def _log_checks(connection: asyncpg.Connection, checked: list[_Pending], checks: list[GuardrailCheck]) -> None:
    """Logs the checks of the utterances stored, and adds their risk to their sessions. The new scores queued are
    not announced: a NOTIFY serialises commits, and the outbox dispatcher finds them within its poll."""
    await connection.execute(INSERT_CHECKS, *insert_arguments(checks))
    added = [RiskAdded(p.checks[0].scope(p.alert_score), risk_points(p.checks)) for p in checked]
    if any(a.points for a in added):
        await connection.execute(ADD_RISK, *risk_arguments(added))


def _flags(utterance: Utterance) -> str:
    """The output filters' flags of an utterance as the messages table keeps them (JSON)."""
    if not utterance.flags:
        return "[]"  # most utterances
    return json.dumps([{"rule": flag.rule, "blocked": flag.blocked} for flag in utterance.flags])


async def _stored_content(connection: asyncpg.Connection, unique: list[_Pending],
                          written: _Written) -> dict[tuple[str, str, int], tuple[str, str]]:
    """The role and text stored already for what was not inserted but is at or below the new top, to compare."""
    rest = [p for p in unique if (*p.session, p.utterance.sequence) not in written.inserted
            and p.session in written.previous
            and p.utterance.sequence <= written.tops.get(p.session, written.previous[p.session])]
    if not rest:
        return {}
    rows = await connection.fetch(_STORED, [p.organization for p in rest], [p.session_id for p in rest],
                                  [p.utterance.sequence for p in rest])
    return {(row["organization"], row["session_id"], row["sequence"]): (row["role"], row["text"]) for row in rows}


async def _advance(connection: asyncpg.Connection, written: _Written) -> int:
    """Moves each extended session's durable sequence to its new top and writes the analysis requests that fell
    due, announcing them; returns how many."""
    due_sessions: list[SessionKey] = []
    due_sequences: list[int] = []
    if written.tops:
        for row in await connection.fetch(_ADVANCE, [o for o, _ in written.tops], [s for _, s in written.tops],
                                          list(written.tops.values())):
            session = row["organization"], row["id"]
            for up_to in analysis_due(written.previous[session], written.tops[session], row["analysis_interval"]):
                due_sessions.append(session)
                due_sequences.append(up_to)
    if due_sessions:
        await connection.execute(_ENQUEUE, [o for o, _ in due_sessions], [s for _, s in due_sessions], due_sequences,
                                 OUTBOX_CHANNEL)
    return len(due_sessions)


def _outcome(pending: _Pending, original: _Pending, written: _Written,
             stored: dict[tuple[str, str, int], tuple[str, str]]) -> Outcome | Exception:
    """What became of ``pending``, given the first of its key in the group (``original``)."""
    key = (*pending.session, pending.utterance.sequence)
    if pending.session not in written.previous:
        return UnknownSession(f"no session {pending.session_id}")
    if pending is original and key in written.inserted:
        return Outcome.STORED
    if key in written.inserted or key in stored:
        kept = (original.utterance.role.value, original.utterance.text) if key in written.inserted else stored[key]
        same = kept == (pending.utterance.role.value, pending.utterance.text)
        return Outcome.DUPLICATE if same else Outcome.CONFLICT
    return Outcome.GAP
