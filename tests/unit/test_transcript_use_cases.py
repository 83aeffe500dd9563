"""Transcript use cases on in-memory ports: creating and ending sessions, and recording a stream's utterances
through the group commit port, with what each outcome becomes for the stream."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from svckit.errors import AlreadyExists, FailedPrecondition, NotFound, Unavailable
from svckit.pagination import PageTokens
from svckit.usecase import Mutation
from tests.builders import caller
from tests.unit.transcript_fakes import FakeCommitter, FakePersonas, FakeTranscriptUnitOfWork, TranscriptStore
from transcript_svc.domain.model import DEFAULT_ANALYSIS_INTERVAL, Outcome, Role, Session, SessionState, Utterance
from transcript_svc.service_layer.recording import Recording, acknowledged_as_duplicate
from transcript_svc.service_layer.transcripts import Transcripts

PERSONA = "personas/sarah-chen"
EPOCH = datetime.fromtimestamp(0, UTC)
SPOKEN = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)


def mutation(request_id: str = "", fingerprint: str = "") -> Mutation:
    return Mutation(caller(), request_id, fingerprint)


def draft(persona: str = PERSONA) -> Session:
    return Session(id="", persona=persona, scenario="", blueprint="sales", round_number=0,
                   state=SessionState.ACTIVE, persona_revision=0, analysis_interval=0, start_time=EPOCH,
                   end_time=None, end_reason="", last_sequence=0, revision=0, update_time=EPOCH)


@pytest.fixture
def store() -> TranscriptStore:
    return TranscriptStore()


@pytest.fixture
def personas() -> FakePersonas:
    return FakePersonas(PERSONA)


@pytest.fixture
def transcripts(store: TranscriptStore, personas: FakePersonas) -> Transcripts:
    return Transcripts(lambda: FakeTranscriptUnitOfWork(store), lambda: FakeTranscriptUnitOfWork(store),
                       PageTokens.from_secret("test"), personas)


async def test_a_created_session_is_stored_active_with_the_defaults(transcripts, store):
    created = await transcripts.create_session(draft(), "call-1", mutation())

    assert created.id == "call-1"
    assert (created.state, created.round_number, created.analysis_interval, created.revision) == (
        SessionState.ACTIVE, 1, DEFAULT_ANALYSIS_INTERVAL, 1)
    assert store.sessions == {"call-1": created}
    assert await transcripts.get_session("call-1") == created


async def test_a_retried_create_returns_the_first_session_and_stores_it_once(transcripts, store):
    first = await transcripts.create_session(draft(), "", mutation("create-1", "same payload"))
    retried = await transcripts.create_session(draft(), "", mutation("create-1", "same payload"))

    assert retried == first
    assert list(store.sessions) == [first.id]


async def test_a_create_for_an_unknown_persona_is_refused_and_stores_nothing(transcripts, store, personas):
    with pytest.raises(NotFound) as refused:
        await transcripts.create_session(draft("personas/nobody"), "call-1", mutation("create-1", "payload"))

    assert refused.value.reason == "PERSONA_NOT_FOUND"
    assert personas.asked == ["personas/nobody"]
    assert store.sessions == {} and store.requests == {}


async def test_a_create_of_a_taken_id_is_refused_and_leaves_no_claim_of_its_request_id(transcripts, store):
    first = await transcripts.create_session(draft(), "call-1", mutation())

    with pytest.raises(AlreadyExists) as refused:
        await transcripts.create_session(draft(), "call-1", mutation("create-2", "payload"))

    assert refused.value.reason == "SESSION_EXISTS"
    assert store.sessions == {"call-1": first} and store.requests == {}


async def test_ending_a_session_requests_its_audit_and_announces_the_end_once(transcripts, store):
    await transcripts.create_session(draft(), "call-1", mutation())

    ended = await transcripts.end_session("call-1", "", "done", mutation("end-1", "payload"))
    again = await transcripts.end_session("call-1", "", "done", mutation("end-1", "payload"))

    assert again == ended and ended.state is SessionState.ENDED
    assert store.outbox == [("call-1", "audit", 0)]
    assert store.announcements == [("session_ended", "call-1"), ("outbox_due",)]


def said(sequence: int, text: str = "words", role: Role = Role.USER) -> Utterance:
    return Utterance(sequence, role, text, SPOKEN)


async def test_a_stored_utterance_goes_to_the_commit_with_its_stream_and_is_acknowledged_as_new():
    committer = FakeCommitter()
    recorder = Recording(committer).stream("call-1", epoch=3, last_durable_sequence=0)

    commit = await recorder.record(said(1))

    assert committer.submitted == [("call-1", said(1), 3)]
    assert await acknowledged_as_duplicate(1, commit) is False


async def test_a_resent_utterance_found_stored_is_acknowledged_as_a_duplicate():
    committer = FakeCommitter()
    committer.outcomes[2] = Outcome.DUPLICATE
    recorder = Recording(committer).stream("call-1", epoch=1, last_durable_sequence=5)

    assert await acknowledged_as_duplicate(2, await recorder.record(said(2))) is True


async def test_a_resent_sequence_with_other_content_is_a_conflict():
    committer = FakeCommitter()
    committer.outcomes[2] = Outcome.CONFLICT
    recorder = Recording(committer).stream("call-1", epoch=1, last_durable_sequence=5)
    commit = await recorder.record(said(2, "other words"))

    with pytest.raises(AlreadyExists) as refused:
        await acknowledged_as_duplicate(2, commit)
    assert (refused.value.reason, refused.value.metadata) == ("SEQUENCE_CONFLICT", {"sequence": "2"})


@pytest.mark.parametrize("settled", [Outcome.GAP, ConnectionError("the database went away")])
async def test_an_utterance_not_stored_tells_the_gateway_to_resume(settled):
    committer = FakeCommitter()
    committer.outcomes[1] = settled
    commit = await Recording(committer).stream("call-1", epoch=1, last_durable_sequence=0).record(said(1))

    with pytest.raises(Unavailable) as refused:
        await acknowledged_as_duplicate(1, commit)
    assert refused.value.reason == "COMMIT_FAILED"


async def test_an_utterance_skipping_ahead_of_the_stream_is_refused_before_the_commit():
    committer = FakeCommitter()
    recorder = Recording(committer).stream("call-1", epoch=1, last_durable_sequence=2)
    await recorder.record(said(3))

    with pytest.raises(FailedPrecondition) as refused:
        await recorder.record(said(5))

    assert (refused.value.reason, refused.value.metadata) == ("SEQUENCE_GAP", {"expected_sequence": "4"})
    assert [utterance.sequence for _, utterance, _ in committer.submitted] == [3]
