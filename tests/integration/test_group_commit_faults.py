"""The group committer against a real PostgreSQL whose connection fails at random points (before any statement,
or after a commit whose answer is then lost), driven by gateways that interleave, pipeline, resend and resume as
the stream protocol allows. Whatever fails and in whatever order: each session's stored messages are a gap-free
prefix, its durable sequence is that prefix's length, everything acknowledged is stored, nothing is doubled."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builders import uid
from tests.integration.flaky_database import Faults
from tests.security import ORGANIZATION
from transcript_svc.adapters.group_commit import GroupCommitter
from transcript_svc.domain.model import Outcome, Role, Utterance

pytestmark = pytest.mark.usefixtures("transcript_schema")

SPOKEN = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)


def said(sequence: int) -> Utterance:
    return Utterance(sequence, Role.USER if sequence % 2 else Role.ASSISTANT, f"utterance {sequence}", SPOKEN)


@dataclass
class Gateway:
    """One session's gateway: sends in order from its resume point, may resend what it sent, resumes on a new
    stream (a newer epoch) after any failure, from the durable sequence it is then told."""

    session_id: str
    last: int
    epoch: int = 1
    next: int = 1
    acked: set[int] = field(default_factory=set)
    in_flight: list[tuple[int, asyncio.Future]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return len(self.acked) == self.last and not self.in_flight

    async def submit(self, committer: GroupCommitter, sequence: int) -> None:
        commit = await committer.submit(ORGANIZATION, self.session_id, said(sequence), self.epoch)
        self.in_flight.append((sequence, commit))

    async def settle(self, committer: GroupCommitter, connection: asyncpg.Connection) -> None:
        """Reads the acks in order, as the stream would send them; the first failure ends the stream."""
        for sequence, future in self.in_flight:
            try:
                outcome = await future
            except Exception:
                outcome = None
            if outcome not in (Outcome.STORED, Outcome.DUPLICATE):
                await self.resume(connection)
                return
            self.acked.add(sequence)
        self.in_flight = []

    async def resume(self, connection: asyncpg.Connection) -> None:
        durable = await connection.fetchval("SELECT last_sequence FROM transcript.sessions WHERE id = $1",
                                            self.session_id)
        assert all(sequence <= durable for sequence in self.acked), "an acknowledged utterance is durable"
        self.epoch += 1
        self.next = durable + 1
        self.in_flight = []


async def new_sessions(connection: asyncpg.Connection, count: int) -> list[str]:
    ids = [f"prop-{uid()}" for _ in range(count)]
    await connection.executemany(
        "INSERT INTO transcript.sessions (organization, id, persona, blueprint, round_number, state,"
        " analysis_interval, start_time, last_sequence, revision, update_time)"
        " VALUES ($1, $2, 'personas/p', 'sales', 1, 'active', 3, now(), 0, 1, now())", [(ORGANIZATION, i) for i in ids])
    return ids


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions=st.integers(1, 3), last=st.integers(1, 20), max_batch=st.integers(1, 8),
       lost_calls=st.frozensets(st.integers(1, 80), max_size=6),
       lost_commit_answers=st.frozensets(st.integers(1, 25), max_size=3), data=st.data())
async def test_stored_is_a_gap_free_prefix_whatever_fails(database_url, sessions, last, max_batch, lost_calls,
                                                          lost_commit_answers, data):
    observer = await asyncpg.connect(database_url)
    faults = Faults(database_url, lost_calls, lost_commit_answers)
    committer = GroupCommitter(database_url, max_batch=max_batch, max_delay=0.001, connect=faults.connect)
    await committer.start()
    try:
        gateways = [Gateway(session_id, last) for session_id in await new_sessions(observer, sessions)]
        for _ in range(400):
            waiting = [g for g in gateways if not g.done]
            if not waiting:
                break
            gateway = data.draw(st.sampled_from(waiting), label="gateway")
            action = data.draw(st.sampled_from(["send", "send", "resend", "settle"]), label="action")
            if action == "send" and gateway.next <= gateway.last:
                count = data.draw(st.integers(1, 6), label="utterances")
                for sequence in range(gateway.next, min(gateway.last, gateway.next + count - 1) + 1):
                    await gateway.submit(committer, sequence)
                    gateway.next = sequence + 1
            elif action == "resend" and gateway.next > 1:
                await gateway.submit(committer, data.draw(st.integers(1, gateway.next - 1), label="resent"))
            else:
                await gateway.settle(committer, observer)
        assert all(g.done for g in gateways), "every gateway got every utterance acknowledged"

        for gateway in gateways:
            rows = await observer.fetch("SELECT sequence, role, text FROM transcript.messages WHERE session_id = $1 "
                                        "ORDER BY sequence", gateway.session_id)
            assert [(r["sequence"], r["role"], r["text"]) for r in rows] == [
                (n, said(n).role.value, said(n).text) for n in range(1, last + 1)]
            assert await observer.fetchval("SELECT last_sequence FROM transcript.sessions WHERE id = $1",
                                           gateway.session_id) == last
            triggers = await observer.fetch(
                "SELECT up_to_sequence FROM transcript.outbox WHERE session_id = $1 ORDER BY up_to_sequence",
                gateway.session_id)
            assert [r["up_to_sequence"] for r in triggers] == list(range(3, last + 1, 3)), "each trigger once"
    finally:
        await committer.stop()
        await observer.close()
