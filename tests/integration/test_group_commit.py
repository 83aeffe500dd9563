"""GroupCommitter against a real PostgreSQL: groups, duplicates and conflicts within and across groups,
the durable sequence (never above a hole), analysis requests in the outbox exactly at multiples of the interval,
and failed commits: retried alone once, then failing their utterances and their stream's later ones, without
stopping the committer."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
import pytest_asyncio
import sqlalchemy as sa

from svckit.db import autocommit
from svckit.pagination import PageTokens
from svckit.usecase import Mutation
from tests.builders import caller, uid
from tests.integration.flaky_database import Faults
from tests.probes import metric
from tests.security import ORGANIZATION
from tests.unit.transcript_fakes import FixedPolicies
from transcript_svc.adapters.group_commit import EarlierUtteranceFailed, GroupCommitter, UnknownSession
from transcript_svc.adapters.unit_of_work import DatabaseUnitOfWork
from transcript_svc.domain.model import Outcome, Role, Session, SessionState, Utterance
from transcript_svc.service_layer.transcripts import Transcripts

pytestmark = pytest.mark.usefixtures("transcript_schema")

USER = Mutation(caller=caller())
EPOCH = datetime.fromtimestamp(0, UTC)
SPOKEN = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)


class EveryPersonaUsable:
    """The persona port, for tests of what happens after a session is created."""

    async def require_usable(self, name: str) -> None:
        return None


@pytest.fixture
def service(engine) -> Transcripts:
    reads = autocommit(engine)
    return Transcripts(lambda: DatabaseUnitOfWork(engine), lambda: DatabaseUnitOfWork(reads),
                       PageTokens.from_secret("test"), EveryPersonaUsable(), policies=FixedPolicies())


@pytest_asyncio.fixture
async def committer(database_url) -> AsyncIterator[GroupCommitter]:
    committer = GroupCommitter(database_url, max_batch=50, max_delay=0.005)
    await committer.start()
    yield committer
    await committer.stop()


async def new_session(service: Transcripts, interval: int = 0) -> str:
    draft = Session(id="", persona="personas/sarah-chen", scenario="", blueprint="sales", round_number=1,
                    state=SessionState.ACTIVE, persona_revision=0, analysis_interval=interval, start_time=EPOCH,
                    end_time=None, end_reason="", last_sequence=0, revision=0, update_time=EPOCH)
    session_id = f"gc-{uid()}"
    await service.create_session(dataclasses.replace(draft), session_id, USER)
    return session_id


def said(sequence: int, text: str | None = None, role: Role = Role.USER) -> Utterance:
    return Utterance(sequence, role, text if text is not None else f"words of utterance {sequence}", SPOKEN)


async def submit_all(committer: GroupCommitter, items: list[tuple[str, Utterance]],
                     epoch: int = 0) -> list[asyncio.Future]:
    """Queues every item before the writer runs (``submit`` does not yield while the queue has room)."""
    return [await committer.submit(ORGANIZATION, session_id, utterance, epoch) for session_id, utterance in items]


async def rows(engine, sql: str, **params) -> list:
    async with engine.connect() as connection:
        return (await connection.execute(sa.text(sql), params)).all()


async def stored(engine, session_id: str) -> list[tuple[int, str, str, int]]:
    return [tuple(r) for r in await rows(
        engine, "SELECT sequence, role, text, word_count FROM transcript.messages WHERE session_id = :s "
                "ORDER BY sequence", s=session_id)]


async def last_sequence(engine, session_id: str) -> int:
    return (await rows(engine, "SELECT last_sequence FROM transcript.sessions WHERE id = :s", s=session_id))[0][0]


async def analysis_requests(engine, session_id: str) -> list[int]:
    return [r[0] for r in await rows(
        engine, "SELECT up_to_sequence FROM transcript.outbox WHERE session_id = :s AND kind = 'analysis' "
                "ORDER BY up_to_sequence, id", s=session_id)]


async def test_utterances_of_several_sessions_commit_together_in_groups(committer, service, engine):
    sessions = [await new_session(service, interval=1000) for _ in range(5)]
    # Interleaved as live streams would submit them: 40 utterances each.
    items = [(s, said(n)) for n in range(1, 41) for s in sessions]
    groups_before = metric("sparring_transcript_commit_group_size_count")
    sizes_before = metric("sparring_transcript_commit_group_size_sum")
    stored_before = metric("sparring_transcript_messages_stored_total")

    outcomes = await asyncio.gather(*await submit_all(committer, items))

    assert outcomes == [Outcome.STORED] * 200
    # 200 queued at once with max_batch=50: four transactions, not two hundred.
    assert metric("sparring_transcript_commit_group_size_count") - groups_before == 4
    assert metric("sparring_transcript_commit_group_size_sum") - sizes_before == 200
    assert metric("sparring_transcript_messages_stored_total") - stored_before == 200
    for session_id in sessions:
        assert [r[0] for r in await stored(engine, session_id)] == list(range(1, 41))
        assert await last_sequence(engine, session_id) == 40
    first = (await stored(engine, sessions[0]))[0]
    assert first == (1, "user", "words of utterance 1", 4)
    spoken = await rows(engine, "SELECT spoken_time FROM transcript.messages WHERE session_id = :s AND sequence = 1",
                        s=sessions[0])
    assert spoken[0][0] == SPOKEN


async def test_a_lone_utterance_commits_without_waiting_for_a_full_group(committer, service, engine):
    session_id = await new_session(service)
    future = await committer.submit(ORGANIZATION, session_id, said(1))
    assert await asyncio.wait_for(future, timeout=5) is Outcome.STORED
    assert await last_sequence(engine, session_id) == 1


async def test_resends_in_the_same_group_and_in_a_later_group_are_duplicates(committer, service, engine):
    session_id = await new_session(service)
    same_group = await submit_all(committer, [
        (session_id, said(1, "hello there")), (session_id, said(2, "second")),
        (session_id, said(1, "hello there")), (session_id, said(2, "second")), (session_id, said(1, "hello there")),
    ])
    assert await asyncio.gather(*same_group) == [
        Outcome.STORED, Outcome.STORED, Outcome.DUPLICATE, Outcome.DUPLICATE, Outcome.DUPLICATE]

    later = await submit_all(committer, [(session_id, said(2, "second")), (session_id, said(1, "hello there")),
                                         (session_id, said(3, "third"))])
    assert await asyncio.gather(*later) == [Outcome.DUPLICATE, Outcome.DUPLICATE, Outcome.STORED]
    assert await stored(engine, session_id) == [
        (1, "user", "hello there", 2), (2, "user", "second", 1), (3, "user", "third", 1)]
    assert await last_sequence(engine, session_id) == 3


async def test_the_same_sequence_with_other_text_or_role_is_a_conflict_and_keeps_the_original(
        committer, service, engine):
    session_id = await new_session(service)
    same_group = await submit_all(committer, [
        (session_id, said(1, "original")),
        (session_id, said(1, "rewritten")),
        (session_id, said(1, "original", Role.ASSISTANT)),
        (session_id, said(1, "original")),
    ])
    assert await asyncio.gather(*same_group) == [
        Outcome.STORED, Outcome.CONFLICT, Outcome.CONFLICT, Outcome.DUPLICATE]

    later = await submit_all(committer, [
        (session_id, said(1, "rewritten")),  # first of its key in this group, yet not what is stored
        (session_id, said(1, "original")),
        (session_id, said(1, "original ")),  # a trailing space is other text
    ])
    assert await asyncio.gather(*later) == [Outcome.CONFLICT, Outcome.DUPLICATE, Outcome.CONFLICT]
    assert await stored(engine, session_id) == [(1, "user", "original", 1)]


async def test_the_same_sequence_in_two_sessions_is_two_messages(committer, service, engine):
    a, b = await new_session(service), await new_session(service)
    futures = await submit_all(committer, [(a, said(1, "same text")), (b, said(1, "same text")),
                                           (b, said(1, "same text"))])
    assert await asyncio.gather(*futures) == [Outcome.STORED, Outcome.STORED, Outcome.DUPLICATE]
    assert len(await stored(engine, a)) == len(await stored(engine, b)) == 1


async def test_the_durable_sequence_only_moves_forward(committer, service, engine):
    session_id = await new_session(service)
    await asyncio.gather(*await submit_all(committer, [(session_id, said(n)) for n in (1, 2, 3, 4, 5)]))
    assert await last_sequence(engine, session_id) == 5
    # Resends below the top change nothing; a group holding the top in the middle still ends at the top.
    await asyncio.gather(*await submit_all(committer, [(session_id, said(n)) for n in (2, 3)]))
    assert await last_sequence(engine, session_id) == 5
    await asyncio.gather(*await submit_all(committer, [(session_id, said(n)) for n in (7, 6, 5)]))
    assert await last_sequence(engine, session_id) == 7
    revision = await rows(engine, "SELECT revision FROM transcript.sessions WHERE id = :s", s=session_id)
    assert revision[0][0] == 1, "messages do not churn the session's etag"


async def test_analysis_requests_are_written_exactly_at_multiples_of_the_interval(committer, service, engine):
    session_id = await new_session(service, interval=3)
    enqueued_before = metric("sparring_transcript_triggers_enqueued_total")
    for group in ([1, 2], [3], [4, 5, 6, 7, 8], [9, 10]):
        await asyncio.gather(*await submit_all(committer, [(session_id, said(n)) for n in group]))
    assert await analysis_requests(engine, session_id) == [3, 6, 9]

    # Resending everything (one group, then one by one) falls due nowhere again.
    await asyncio.gather(*await submit_all(committer, [(session_id, said(n)) for n in range(1, 11)]))
    for n in (3, 6, 9):
        await (await committer.submit(ORGANIZATION, session_id, said(n)))
    assert await analysis_requests(engine, session_id) == [3, 6, 9]

    await asyncio.gather(*await submit_all(committer, [(session_id, said(n)) for n in (11, 12, 13)]))
    assert await analysis_requests(engine, session_id) == [3, 6, 9, 12]
    assert metric("sparring_transcript_triggers_enqueued_total") - enqueued_before == 4
    pending = await rows(engine, "SELECT DISTINCT state, attempts FROM transcript.outbox WHERE session_id = :s",
                         s=session_id)
    assert pending == [("pending", 0)]


async def test_the_default_interval_and_a_large_group_cross_several_multiples_at_once(committer, service, engine):
    tens, ones = await new_session(service), await new_session(service, interval=1)
    futures = await submit_all(committer, [(tens, said(n)) for n in range(1, 26)]
                               + [(ones, said(n)) for n in range(1, 4)])
    await asyncio.gather(*futures)
    assert await analysis_requests(engine, tens) == [4, 10, 20]
    assert await analysis_requests(engine, ones) == [1, 2, 3]
    await asyncio.gather(*await submit_all(committer, [(tens, said(n)) for n in range(26, 31)]))
    assert await analysis_requests(engine, tens) == [4, 10, 20, 30]


async def test_analysis_requests_are_announced_by_notify(committer, service, engine, database_url):
    session_id = await new_session(service, interval=2)
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database_url)
    try:
        await listener.add_listener("transcript_outbox", lambda *args: heard.put_nowait(args[2]))
        await (await committer.submit(ORGANIZATION, session_id, said(1)))
        await (await committer.submit(ORGANIZATION, session_id, said(2)))
        assert await asyncio.wait_for(heard.get(), timeout=5) == "transcript_outbox"
    finally:
        await listener.close()


async def test_an_unknown_session_is_refused_and_the_rest_of_its_group_commits(committer, service, engine):
    good = await new_session(service, interval=2)
    futures = await submit_all(committer, [(good, said(1)), ("no-such-session", said(1)), (good, said(2)),
                                           ("no-such-session", said(2))])
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert results[0] is Outcome.STORED and results[2] is Outcome.STORED
    assert all(isinstance(r, UnknownSession) for r in (results[1], results[3]))
    assert [r[0] for r in await stored(engine, good)] == [1, 2]
    assert await last_sequence(engine, good) == 2
    assert await analysis_requests(engine, good) == [2]
    assert not await rows(engine, "SELECT 1 FROM transcript.messages WHERE session_id = 'no-such-session'")


async def test_an_utterance_above_a_hole_is_not_stored(committer, service, engine):
    session_id = await new_session(service)
    futures = await submit_all(committer, [(session_id, said(n)) for n in (1, 2, 4, 5)])
    assert await asyncio.gather(*futures) == [Outcome.STORED, Outcome.STORED, Outcome.GAP, Outcome.GAP]
    assert [r[0] for r in await stored(engine, session_id)] == [1, 2]
    assert await last_sequence(engine, session_id) == 2
    later = await submit_all(committer, [(session_id, said(n)) for n in (3, 4)])
    assert await asyncio.gather(*later) == [Outcome.STORED, Outcome.STORED]
    assert await last_sequence(engine, session_id) == 4


async def test_a_stream_whose_commit_failed_commits_nothing_more_until_it_resumes(database_url, service, engine,
                                                                                 caplog):
    faults = Faults(database_url)
    committer = GroupCommitter(database_url, max_batch=50, max_delay=0.001, connect=faults.connect)
    await committer.start()
    try:
        session_id = await new_session(service, interval=2)
        assert await (await committer.submit(ORGANIZATION, session_id, said(1), epoch=1)) is Outcome.STORED
        # The group fails, and so does its retry alone on a new connection.
        faults.lose_next = 2
        with pytest.raises(asyncpg.ConnectionDoesNotExistError):
            await (await committer.submit(ORGANIZATION, session_id, said(2), epoch=1))
        assert "group commit of 1 utterances failed" in caplog.text
        with pytest.raises(EarlierUtteranceFailed):
            await (await committer.submit(ORGANIZATION, session_id, said(3), epoch=1))
        assert await last_sequence(engine, session_id) == 1
        # The gateway resumes on a newer stream from the durable sequence.
        resumed = await submit_all(committer, [(session_id, said(n)) for n in (2, 3)], epoch=2)
        assert await asyncio.gather(*resumed) == [Outcome.STORED, Outcome.STORED]
    finally:
        await committer.stop()
    assert [r[0] for r in await stored(engine, session_id)] == [1, 2, 3]
    assert await analysis_requests(engine, session_id) == [2]


async def test_a_commit_that_fails_once_is_retried_alone_and_its_stream_goes_on(database_url, service, engine):
    faults = Faults(database_url)
    committer = GroupCommitter(database_url, max_batch=50, max_delay=0.001, connect=faults.connect)
    await committer.start()
    try:
        sessions = [await new_session(service) for _ in range(3)]
        faults.lose_next = 1
        futures = await submit_all(committer, [(s, said(n)) for n in (1, 2) for s in sessions])
        assert await asyncio.gather(*futures) == [Outcome.STORED] * 6
    finally:
        await committer.stop()
    for session_id in sessions:
        assert await last_sequence(engine, session_id) == 2


async def test_text_the_driver_cannot_encode_fails_only_its_own_session(committer, service, engine):
    good, bad = await new_session(service), await new_session(service)
    futures = await submit_all(committer, [(good, said(1)), (bad, said(1, "lone surrogate \ud800")), (good, said(2))])
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert results[0] is Outcome.STORED and results[2] is Outcome.STORED
    assert isinstance(results[1], asyncpg.DataError)
    assert await stored(engine, bad) == [] and await last_sequence(engine, bad) == 0


async def test_the_writer_outlives_an_unexpected_error(committer, service, engine):
    session_id = await new_session(service)
    broken = Utterance(1, Role.USER, None, SPOKEN)  # type: ignore[arg-type]  # a bug upstream, not bad input
    with pytest.raises(AttributeError):
        await asyncio.wait_for(await committer.submit(ORGANIZATION, session_id, broken), timeout=5)
    # Its stream fails; the resumed one (a newer epoch) commits.
    resumed = await committer.submit(ORGANIZATION, session_id, said(1), epoch=1)
    assert await asyncio.wait_for(resumed, timeout=5) is Outcome.STORED


async def test_stop_commits_what_is_queued(database_url, service, engine):
    committer = GroupCommitter(database_url, max_batch=10, max_delay=0.001)
    await committer.start()
    session_id = await new_session(service)
    futures = await submit_all(committer, [(session_id, said(n)) for n in range(1, 36)])
    await committer.stop()
    assert all(f.done() and f.result() is Outcome.STORED for f in futures)
    assert await last_sequence(engine, session_id) == 35


async def test_a_full_queue_makes_submitters_wait(database_url, service, engine):
    committer = GroupCommitter(database_url, max_batch=5, max_delay=0.001, max_queued=5)
    session_id = await new_session(service)
    # Not started: nothing drains the queue, so the sixth submit waits for room.
    futures = await submit_all(committer, [(session_id, said(n)) for n in range(1, 6)])
    sixth = asyncio.ensure_future(committer.submit(ORGANIZATION, session_id, said(6)))
    await asyncio.sleep(0)  # let the sixth submit reach the full queue
    assert not sixth.done()
    await committer.start()
    try:
        last = await asyncio.wait_for(sixth, timeout=5)
        assert await asyncio.gather(*futures, last) == [Outcome.STORED] * 6
    finally:
        await committer.stop()
