"""Transcript use cases on in-memory ports: creating and ending sessions, and recording a stream's utterances
through the group commit port, with what each outcome becomes for the stream."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from svckit.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from svckit.pagination import PageTokens
from svckit.usecase import Mutation
from tests.builders import caller
from tests.unit.transcript_fakes import (
    FakeCommitter,
    FakePersonas,
    FakeTranscriptUnitOfWork,
    FixedPolicies,
    TranscriptStore,
)
from transcript_svc.domain.model import (
    DEFAULT_ANALYSIS_INTERVAL,
    Command,
    CommandSource,
    CommandState,
    CommandType,
    Outcome,
    Role,
    Session,
    SessionState,
    Utterance,
)
from transcript_svc.service_layer.pii import as_said
from transcript_svc.service_layer.recording import Recording, acknowledged_as_duplicate
from transcript_svc.service_layer.transcripts import Transcripts

PERSONA = "personas/sarah-chen"
ORGANIZATION = "acme"
ADMIN = caller("admin").principal
EPOCH = datetime.fromtimestamp(0, UTC)
SPOKEN = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)


def mutation(request_id: str = "", fingerprint: str = "") -> Mutation:
    return Mutation(caller(), request_id, fingerprint)


def draft(persona: str = PERSONA, gateway: str = "") -> Session:
    return Session(id="", persona=persona, scenario="", blueprint="sales", round_number=0,
                   state=SessionState.ACTIVE, persona_revision=0, analysis_interval=0, start_time=EPOCH,
                   end_time=None, end_reason="", last_sequence=0, revision=0, update_time=EPOCH, gateway=gateway)


@pytest.fixture
def store() -> TranscriptStore:
    return TranscriptStore()


@pytest.fixture
def personas() -> FakePersonas:
    return FakePersonas(PERSONA)


@pytest.fixture
def transcripts(store: TranscriptStore, personas: FakePersonas) -> Transcripts:
    return Transcripts(lambda: FakeTranscriptUnitOfWork(store), lambda: FakeTranscriptUnitOfWork(store),
                       PageTokens.from_secret("test"), personas, policies=FixedPolicies())


async def test_a_created_session_is_stored_active_with_the_defaults(transcripts, store):
    created = await transcripts.create_session(draft(), "call-1", mutation())

    assert created.id == "call-1"
    assert (created.state, created.round_number, created.analysis_interval, created.revision) == (
        SessionState.ACTIVE, 1, DEFAULT_ANALYSIS_INTERVAL, 1)
    assert store.sessions == {(ORGANIZATION, "call-1"): created}
    assert await transcripts.get_session(ADMIN, "call-1") == created


async def test_a_retried_create_returns_the_first_session_and_stores_it_once(transcripts, store):
    first = await transcripts.create_session(draft(), "", mutation("create-1", "same payload"))
    retried = await transcripts.create_session(draft(), "", mutation("create-1", "same payload"))

    assert retried == first
    assert list(store.sessions) == [(ORGANIZATION, first.id)]


async def test_a_create_for_an_unknown_persona_is_refused_and_stores_nothing(transcripts, store, personas):
    with pytest.raises(NotFound) as refused:
        await transcripts.create_session(draft("personas/nobody"), "call-1", mutation("create-1", "payload"))

    assert refused.value.reason == "PERSONA_NOT_FOUND"
    assert personas.asked == ["personas/nobody"]
    assert store.sessions == {} and not any(table.requests for table in store.requests.values())


async def test_a_create_of_a_taken_id_is_refused_and_leaves_no_claim_of_its_request_id(transcripts, store):
    first = await transcripts.create_session(draft(), "call-1", mutation())

    with pytest.raises(AlreadyExists) as refused:
        await transcripts.create_session(draft(), "call-1", mutation("create-2", "payload"))

    assert refused.value.reason == "SESSION_EXISTS"
    assert store.sessions == {(ORGANIZATION, "call-1"): first} and store.requests[ORGANIZATION].requests == {}


async def test_ending_a_session_requests_its_audit_and_announces_the_end_once(transcripts, store):
    await transcripts.create_session(draft(), "call-1", mutation())

    ended = await transcripts.end_session("call-1", "", "done", mutation("end-1", "payload"))
    again = await transcripts.end_session("call-1", "", "done", mutation("end-1", "payload"))

    assert again == ended and ended.state is SessionState.ENDED
    assert store.outbox == [(ORGANIZATION, "call-1", "audit", 0)]
    assert store.announcements == [("session_ended", ORGANIZATION, "call-1"), ("outbox_due",)]


def said(sequence: int, text: str = "words", role: Role = Role.USER) -> Utterance:
    return Utterance(sequence, role, text, SPOKEN)


async def test_a_stored_utterance_goes_to_the_commit_with_its_stream_and_is_acknowledged_as_new():
    committer = FakeCommitter()
    recorder = Recording(committer).stream(ORGANIZATION, "call-1", epoch=3, last_durable_sequence=0, protect=as_said)

    commit = await recorder.record(said(1))

    assert committer.submitted == [(ORGANIZATION, "call-1", said(1), 3)]
    assert await acknowledged_as_duplicate(1, commit) is False


async def test_a_resent_utterance_found_stored_is_acknowledged_as_a_duplicate():
    committer = FakeCommitter()
    committer.outcomes[2] = Outcome.DUPLICATE
    recorder = Recording(committer).stream(ORGANIZATION, "call-1", epoch=1, last_durable_sequence=5, protect=as_said)

    assert await acknowledged_as_duplicate(2, await recorder.record(said(2))) is True


async def test_a_resent_sequence_with_other_content_is_a_conflict():
    committer = FakeCommitter()
    committer.outcomes[2] = Outcome.CONFLICT
    recorder = Recording(committer).stream(ORGANIZATION, "call-1", epoch=1, last_durable_sequence=5, protect=as_said)
    commit = await recorder.record(said(2, "other words"))

    with pytest.raises(AlreadyExists) as refused:
        await acknowledged_as_duplicate(2, commit)
    assert (refused.value.reason, refused.value.metadata) == ("SEQUENCE_CONFLICT", {"sequence": "2"})


@pytest.mark.parametrize("settled", [Outcome.GAP, ConnectionError("the database went away")])
async def test_an_utterance_not_stored_tells_the_gateway_to_resume(settled):
    committer = FakeCommitter()
    committer.outcomes[1] = settled
    recorder = Recording(committer).stream(ORGANIZATION, "call-1", epoch=1, last_durable_sequence=0, protect=as_said)
    commit = await recorder.record(said(1))

    with pytest.raises(Unavailable) as refused:
        await acknowledged_as_duplicate(1, commit)
    assert refused.value.reason == "COMMIT_FAILED"


async def test_an_utterance_skipping_ahead_of_the_stream_is_refused_before_the_commit():
    committer = FakeCommitter()
    recorder = Recording(committer).stream(ORGANIZATION, "call-1", epoch=1, last_durable_sequence=2, protect=as_said)
    await recorder.record(said(3))

    with pytest.raises(FailedPrecondition) as refused:
        await recorder.record(said(5))

    assert (refused.value.reason, refused.value.metadata) == ("SEQUENCE_GAP", {"expected_sequence": "4"})
    assert [utterance.sequence for _, _, utterance, _ in committer.submitted] == [3]


# --- organizations and participants -------------------------------------------------------------

IVY, IAN, GATEWAY_1, GATEWAY_2 = "ivy@acme", "ian@acme", "gateway-1@acme", "gateway-2@acme"
OTHER_ORGANIZATION = "globex"


def as_caller(*roles: str, subject: str = IVY, organization: str = ORGANIZATION) -> Mutation:
    return Mutation(caller(*roles, subject=subject, organization=organization))


def refusal(error: DomainError) -> tuple[type, str, str, dict[str, str]]:
    """All a caller learns of a refusal."""
    return type(error), error.message, error.reason, error.metadata


async def test_a_session_belongs_to_its_creators_organization_and_names_it_its_interviewer(transcripts, store):
    created = await transcripts.create_session(draft(gateway=GATEWAY_1), "call-1", as_caller("interviewer"))

    assert (created.organization, created.interviewer, created.gateway) == (ORGANIZATION, IVY, GATEWAY_1)
    assert store.sessions == {(ORGANIZATION, "call-1"): created}


async def test_a_caller_acting_for_no_organization_creates_nothing(transcripts, store):
    with pytest.raises(FailedPrecondition) as refused:
        await transcripts.create_session(draft(), "call-1", as_caller("service", "interviewer", organization=""))

    assert refused.value.reason == "ORGANIZATION_REQUIRED"
    assert store.sessions == {} and store.requests == {}


@pytest.mark.parametrize(("gateway", "description"), [("g" * 201, "at most 200"), ("gateway\n1", "control"),
                                                      ("gate\x7fway", "control")])
async def test_a_gateway_subject_too_long_or_with_control_characters_is_invalid(transcripts, store, gateway,
                                                                                 description):
    with pytest.raises(InvalidArgument) as refused:
        await transcripts.create_session(draft(gateway=gateway), "call-1", as_caller("interviewer"))

    assert [v.field for v in refused.value.violations] == ["session.gateway"]
    assert description in refused.value.violations[0].description
    assert store.sessions == {}


async def test_two_organizations_each_hold_the_same_session_id_and_request_id(transcripts, store):
    ours = await transcripts.create_session(draft(), "call-1", Mutation(caller(), "create-1", "ours"))
    theirs = await transcripts.create_session(draft(), "call-1", Mutation(
        caller(organization=OTHER_ORGANIZATION), "create-1", "theirs"))

    assert (ours.organization, theirs.organization) == (ORGANIZATION, OTHER_ORGANIZATION)
    assert set(store.sessions) == {(ORGANIZATION, "call-1"), (OTHER_ORGANIZATION, "call-1")}


async def test_another_organizations_session_is_refused_as_if_it_did_not_exist(transcripts, store):
    await transcripts.create_session(draft(), "call-1", mutation())
    stranger = caller("admin", organization=OTHER_ORGANIZATION)
    before = store.copy()

    refusals = []
    for session_id in ("call-1", "call-2"):  # held by acme; held by nobody
        for attempt in (transcripts.get_session(stranger.principal, session_id),
                        transcripts.list_messages(stranger.principal, session_id, 0, 0, 0, 0, ""),
                        transcripts.end_session(session_id, "", "", Mutation(stranger)),
                        transcripts.open_stream(stranger.principal, session_id, 0)):
            with pytest.raises(NotFound) as refused:
                await attempt
            refusals.append(refusal(refused.value))

    held, missing = refusals[:4], refusals[4:]
    assert held == [(t, m.replace("call-2", "call-1"), r, {"resource": "sessions/call-1"}) for t, m, r, _ in missing]
    assert store == before


PRINCIPALS = st.builds(lambda roles, subject, organization: caller(*roles, subject=subject,
                                                                    organization=organization).principal,
                       st.frozensets(st.sampled_from(["admin", "interviewer", "gateway", "service"])),
                       st.sampled_from([IVY, IAN, GATEWAY_1, GATEWAY_2]),
                       st.sampled_from([ORGANIZATION, OTHER_ORGANIZATION]))


@given(reader=PRINCIPALS, gateway=st.sampled_from(["", GATEWAY_1]))
async def test_a_session_is_read_by_admins_services_and_its_participants_of_its_organization(reader, gateway):
    store = TranscriptStore()
    transcripts = Transcripts(lambda: FakeTranscriptUnitOfWork(store), lambda: FakeTranscriptUnitOfWork(store),
                              PageTokens.from_secret("test"), FakePersonas(PERSONA), policies=FixedPolicies())
    await transcripts.create_session(draft(gateway=gateway), "call-1", as_caller("interviewer"))
    own_organization = reader.organization == ORGANIZATION
    allowed = own_organization and (reader.is_admin or reader.is_service or reader.subject in (IVY, gateway))

    try:
        read = await transcripts.get_session(reader, "call-1")
    except NotFound:
        assert not own_organization
    except PermissionDenied as refused:
        assert own_organization and not allowed and refused.reason == "NOT_A_PARTICIPANT"
    else:
        assert allowed and read.id == "call-1"
    listed = await transcripts.list_sessions(reader, {}, 0, "")
    assert [s.id for s in listed.items] == (["call-1"] if allowed else [])


@given(opener=PRINCIPALS, assigned=st.sampled_from(["", GATEWAY_1]))
async def test_a_stream_is_opened_by_admins_and_the_sessions_gateway_the_first_of_which_is_assigned(opener,
                                                                                                     assigned):
    store = TranscriptStore()
    transcripts = Transcripts(lambda: FakeTranscriptUnitOfWork(store), lambda: FakeTranscriptUnitOfWork(store),
                              PageTokens.from_secret("test"), FakePersonas(PERSONA), policies=FixedPolicies())
    await transcripts.create_session(draft(gateway=assigned), "call-1", as_caller("interviewer"))
    own_organization = opener.organization == ORGANIZATION
    gateway_may = assigned in ("", opener.subject)

    try:
        grant = await transcripts.open_stream(opener, "call-1", 0)
    except NotFound:
        assert not own_organization
    except PermissionDenied as refused:
        assert own_organization and not opener.is_admin and not gateway_may
        assert refused.reason == "GATEWAY_NOT_ASSIGNED"
    else:
        assert own_organization and (opener.is_admin or gateway_may)
        expected = assigned or ("" if opener.is_admin else opener.subject)
        assert grant.session.gateway == expected == store.sessions[(ORGANIZATION, "call-1")].gateway
        return
    assert store.sessions[(ORGANIZATION, "call-1")].gateway == assigned


@pytest.mark.parametrize(("roles", "subject", "ends"), [
    (("interviewer",), IVY, True), (("gateway",), GATEWAY_1, True), (("admin",), IAN, True),
    (("interviewer",), IAN, False), (("gateway",), GATEWAY_2, False)])
async def test_a_session_is_ended_by_an_admin_or_a_participant_only(transcripts, store, roles, subject, ends):
    await transcripts.create_session(draft(gateway=GATEWAY_1), "call-1", as_caller("interviewer"))
    before = store.copy()
    ending = transcripts.end_session("call-1", "", "done", as_caller(*roles, subject=subject))
    if ends:
        assert (await ending).state is SessionState.ENDED
        return
    with pytest.raises(PermissionDenied) as refused:
        await ending
    assert refused.value.reason == "NOT_A_PARTICIPANT"
    assert store == before


@pytest.mark.parametrize(("roles", "subject", "sends"), [
    (("interviewer",), IVY, True), (("service",), "service:analysis", True), (("admin",), IAN, True),
    (("interviewer",), IAN, False), (("gateway", "interviewer"), GATEWAY_1, False)])
async def test_commands_come_from_an_admin_the_interviewer_or_a_service(transcripts, store, roles, subject, sends):
    await transcripts.create_session(draft(gateway=GATEWAY_1), "call-1", as_caller("interviewer"))
    before = store.copy()
    command = Command(session_id="", id="", type=CommandType.CURVEBALL, text="budget", label="",
                      new_difficulty=0, source=CommandSource.MANUAL, suggestion="", state=CommandState.PENDING,
                      delivery_count=0, create_time=EPOCH)
    sending = transcripts.send_command("call-1", command, "c1", as_caller(*roles, subject=subject))
    if sends:
        assert (await sending).resource_name == "sessions/call-1/commands/c1"
        return
    with pytest.raises(PermissionDenied) as refused:
        await sending
    assert refused.value.reason == "NOT_A_PARTICIPANT"
    assert store == before
