"""The audit log through real servers: every call that changes data leaves an entry in its service's log, whatever
its result, before it is answered; admins list their own organization's entries, by page and filter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from sparring.analysis.v1 import analysis_service_pb2 as analysis_pb
from sparring.analysis.v1.analysis_service_pb2_grpc import AnalysisServiceStub
from sparring.auditlog.v1 import audit_log_service_pb2 as pb
from sparring.auditlog.v1.audit_log_service_pb2_grpc import AuditLogServiceStub
from sparring.learning.v1 import learning_service_pb2 as learning_pb
from sparring.learning.v1.learning_service_pb2_grpc import LearningServiceStub
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.persona.v1.persona_service_pb2_grpc import PersonaServiceStub
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb
from sparring.transcript.v1.transcript_service_pb2_grpc import TranscriptServiceStub

from svckit.times import timestamp
from tests.builders import new_persona, uid
from tests.e2e.status_details import reason_and_fields, rejected_in
from tests.e2e.test_analysis_live import CALL
from tests.e2e.test_learning_api import length_patch
from tests.e2e.transcript_fixtures import new_session, streamed_call
from tests.security import OTHER_ORGANIZATION, token

PERSONA_DOMAIN = "persona.sparring.dev"
DENIED, INVALID = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT


class Caller:
    """One subject of an organization, calling a server with the roles each call names."""

    def __init__(self, connect, address: str, organization: str = "acme") -> None:
        self.subject = f"audited-{uid()}@{organization}"
        self._connect, self._address, self._organization = connect, address, organization

    def stub(self, stub_class, *roles: str):
        return stub_class(self._connect(self._address, token(*roles, organization=self._organization,
                                                             subject=self.subject)))

    def audit_log(self, *roles: str) -> AuditLogServiceStub:
        return self.stub(AuditLogServiceStub, *roles)

    async def entries(self, **filters) -> list[pb.AuditLogEntry]:
        """Every entry of this subject, newest first, as an admin of its organization lists them."""
        admin = Caller(self._connect, self._address, self._organization).audit_log("admin")
        reply = await admin.ListAuditLogEntries(pb.ListAuditLogEntriesRequest(subject=self.subject, page_size=200,
                                                                              **filters))
        assert not reply.next_page_token
        return list(reply.audit_log_entries)


async def refused(call, code: grpc.StatusCode) -> str:
    """The ErrorInfo reason of a call that must fail with ``code``."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() == code, raised.value.details()
    return reason_and_fields(raised.value)[0]


def check(entry: pb.AuditLogEntry, caller: Caller, roles: list[str], method: str, resource: str, result: str,
          reason: str = "", request_id: str = "") -> None:
    assert entry.name.startswith("auditLogEntries/")
    assert (entry.subject, list(entry.roles), entry.method, entry.resource, entry.result, entry.reason) == (
        caller.subject, roles, method, resource, result, reason)
    if request_id:
        assert entry.request_id == request_id
    assert abs(entry.create_time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=1)


async def test_persona_changes_are_logged_whatever_their_result_and_reads_are_not(persona_server, connect):
    caller = Caller(connect, persona_server)
    method = "/sparring.persona.v1.PersonaService/"
    request_id = f"req-{uid()}"
    created = (await caller.stub(PersonaServiceStub, "author").CreatePersona(
        persona_pb.CreatePersonaRequest(persona=new_persona()), metadata=(("x-request-id", request_id),))).persona
    await caller.stub(PersonaServiceStub, "author").GetPersona(persona_pb.GetPersonaRequest(name=created.name))
    reason_denied = await refused(caller.stub(PersonaServiceStub, "interviewer").DeletePersona(
        persona_pb.DeletePersonaRequest(name=created.name)), DENIED)
    reason_invalid = await refused(caller.stub(PersonaServiceStub, "author").DeletePersona(
        persona_pb.DeletePersonaRequest(name="not-a-name", request_id="retry-me")), INVALID)

    invalid, denied, ok = await caller.entries()
    check(ok, caller, ["author"], method + "CreatePersona", created.name, "OK", request_id=request_id)
    check(denied, caller, ["interviewer"], method + "DeletePersona", created.name, "PERMISSION_DENIED",
          reason_denied)
    check(invalid, caller, ["author"], method + "DeletePersona", "not-a-name", "INVALID_ARGUMENT", reason_invalid,
          request_id="retry-me")
    assert reason_denied == "ROLE_NOT_PERMITTED" and reason_invalid


async def test_transcript_changes_are_logged_whatever_their_result_and_reads_are_not(transcript_server, connect):
    caller = Caller(connect, transcript_server)
    method = "/sparring.transcript.v1.TranscriptService/"
    session = await new_session(caller.stub(TranscriptServiceStub, "interviewer"))
    await caller.stub(TranscriptServiceStub, "interviewer").GetSession(
        transcript_pb.GetSessionRequest(name=session.name))
    reason_denied = await refused(caller.stub(TranscriptServiceStub, "analyst").EndSession(
        transcript_pb.EndSessionRequest(name=session.name)), DENIED)
    reason_invalid = await refused(caller.stub(TranscriptServiceStub, "interviewer").EndSession(
        transcript_pb.EndSessionRequest(name="not-a-name")), INVALID)

    invalid, denied, ok = await caller.entries()
    check(ok, caller, ["interviewer"], method + "CreateSession", session.name, "OK")
    check(denied, caller, ["analyst"], method + "EndSession", session.name, "PERMISSION_DENIED", reason_denied)
    check(invalid, caller, ["interviewer"], method + "EndSession", "not-a-name", "INVALID_ARGUMENT", reason_invalid)


async def test_analysis_changes_are_logged_whatever_their_result_and_reads_are_not(analysis_server, transcripts,
                                                                                  connect):
    caller = Caller(connect, analysis_server)
    method = "/sparring.analysis.v1.AnalysisService/"
    session = await streamed_call(transcripts, CALL[:2])
    await caller.stub(AnalysisServiceStub, "admin").RequestAnalysis(
        analysis_pb.RequestAnalysisRequest(session=session, up_to_sequence=2, trigger_id="seq-2"))
    await caller.stub(AnalysisServiceStub, "analyst").ListAnalyses(analysis_pb.ListAnalysesRequest(parent=session))
    reason_denied = await refused(caller.stub(AnalysisServiceStub, "analyst").RequestAnalysis(
        analysis_pb.RequestAnalysisRequest(session=session, up_to_sequence=2, trigger_id="seq-2")), DENIED)
    reason_invalid = await refused(caller.stub(AnalysisServiceStub, "admin").RequestAnalysis(
        analysis_pb.RequestAnalysisRequest(session="not-a-name", trigger_id="seq-2")), INVALID)

    invalid, denied, ok = await caller.entries()
    check(ok, caller, ["admin"], method + "RequestAnalysis", session, "OK")
    check(denied, caller, ["analyst"], method + "RequestAnalysis", session, "PERMISSION_DENIED", reason_denied)
    check(invalid, caller, ["admin"], method + "RequestAnalysis", "not-a-name", "INVALID_ARGUMENT", reason_invalid)


async def test_learning_changes_are_logged_whatever_their_result_and_reads_are_not(learning_server, connect):
    caller = Caller(connect, learning_server)
    method = "/sparring.learning.v1.LearningService/"
    patch = (await caller.stub(LearningServiceStub, "author").CreatePromptPatch(
        learning_pb.CreatePromptPatchRequest(patch=length_patch("archetypes/owl", 8, 12)))).patch
    await caller.stub(LearningServiceStub, "author").GetPromptPatch(learning_pb.GetPromptPatchRequest(name=patch.name))
    reason_denied = await refused(caller.stub(LearningServiceStub, "author").ApprovePromptPatch(
        learning_pb.ApprovePromptPatchRequest(name=patch.name)), DENIED)
    reason_invalid = await refused(caller.stub(LearningServiceStub, "admin").ApprovePromptPatch(
        learning_pb.ApprovePromptPatchRequest(name="not-a-name")), INVALID)

    invalid, denied, ok = await caller.entries()
    check(ok, caller, ["author"], method + "CreatePromptPatch", patch.name, "OK")
    check(denied, caller, ["author"], method + "ApprovePromptPatch", patch.name, "PERMISSION_DENIED", reason_denied)
    check(invalid, caller, ["admin"], method + "ApprovePromptPatch", "not-a-name", "INVALID_ARGUMENT",
          reason_invalid)


async def test_a_refused_create_names_the_resource_it_asked_for(persona_server, learning_server, connect):
    personas, patches = Caller(connect, persona_server), Caller(connect, learning_server)
    persona_id, patch_id = f"asked-{uid()}", f"asked-{uid()}"
    reason_persona = await refused(personas.stub(PersonaServiceStub, "interviewer").CreatePersona(
        persona_pb.CreatePersonaRequest(persona=new_persona(), persona_id=persona_id)), DENIED)
    reason_patch = await refused(patches.stub(LearningServiceStub, "interviewer").CreatePromptPatch(
        learning_pb.CreatePromptPatchRequest(patch=length_patch("archetypes/owl", 8, 12), patch_id=patch_id)), DENIED)

    (persona_entry,), (patch_entry,) = await personas.entries(), await patches.entries()
    check(persona_entry, personas, ["interviewer"], "/sparring.persona.v1.PersonaService/CreatePersona",
          f"personas/{persona_id}", "PERMISSION_DENIED", reason_persona)
    check(patch_entry, patches, ["interviewer"], "/sparring.learning.v1.LearningService/CreatePromptPatch",
          f"patches/{patch_id}", "PERMISSION_DENIED", reason_patch)


async def test_only_admins_list_the_audit_log(persona_server, connect):
    caller = Caller(connect, persona_server)
    for role in ("author", "interviewer", "gateway", "analyst", "service"):
        rejection = await rejected_in(PERSONA_DOMAIN, caller.audit_log(role).ListAuditLogEntries(
            pb.ListAuditLogEntriesRequest()), DENIED)
        assert rejection.reason == "ROLE_NOT_PERMITTED"


async def test_a_call_without_credentials_leaves_no_entry(persona_server, connect):
    name = f"personas/{uid()}"
    anonymous = PersonaServiceStub(connect(persona_server, None))
    await refused(anonymous.DeletePersona(persona_pb.DeletePersonaRequest(name=name)), grpc.StatusCode.UNAUTHENTICATED)
    admin = Caller(connect, persona_server).audit_log("admin")
    reply = await admin.ListAuditLogEntries(pb.ListAuditLogEntriesRequest(resource=name))
    assert not reply.audit_log_entries


async def test_an_organization_lists_only_its_own_entries(persona_server, connect):
    ours, theirs = Caller(connect, persona_server), Caller(connect, persona_server, OTHER_ORGANIZATION)
    for caller in (ours, theirs):
        await refused(caller.stub(PersonaServiceStub, "author").DeletePersona(
            persona_pb.DeletePersonaRequest(name="not-a-name")), INVALID)
    assert [e.subject for e in await ours.entries()] == [ours.subject]
    assert [e.subject for e in await theirs.entries()] == [theirs.subject]
    ours_listing_theirs = Caller(connect, persona_server).audit_log("admin")
    reply = await ours_listing_theirs.ListAuditLogEntries(pb.ListAuditLogEntriesRequest(subject=theirs.subject))
    assert not reply.audit_log_entries


async def test_entries_are_paged_newest_first_and_filtered(persona_server, connect):
    caller = Caller(connect, persona_server)
    authors = caller.stub(PersonaServiceStub, "author")
    start = datetime.now(UTC)
    names = [f"personas/{uid()}" for _ in range(3)]
    for name in names:
        await refused(authors.DeletePersona(persona_pb.DeletePersonaRequest(name=name)), grpc.StatusCode.NOT_FOUND)
    created = (await authors.CreatePersona(persona_pb.CreatePersonaRequest(persona=new_persona()))).persona
    everything = await caller.entries()
    assert [e.resource for e in everything] == [created.name, *reversed(names)]

    admin = Caller(connect, persona_server).audit_log("admin")
    pages, next_token = [], ""
    while True:
        reply = await admin.ListAuditLogEntries(pb.ListAuditLogEntriesRequest(
            subject=caller.subject, page_size=3, page_token=next_token))
        pages.append([e.name for e in reply.audit_log_entries])
        next_token = reply.next_page_token
        if not next_token:
            break
    assert pages == [[e.name for e in everything[:3]], [everything[3].name]]

    assert [e.resource for e in await caller.entries(resource=names[1])] == [names[1]]
    assert [e.resource for e in await caller.entries(method="/sparring.persona.v1.PersonaService/CreatePersona")] \
        == [created.name]
    middle = everything[2].create_time
    assert [e.name for e in await caller.entries(start_time=middle)] == [e.name for e in everything[:3]]
    assert [e.name for e in await caller.entries(end_time=middle)] == [everything[3].name]
    assert not await caller.entries(start_time=timestamp(datetime.now(UTC) + timedelta(minutes=1)))
    assert len(await caller.entries(start_time=timestamp(start), end_time=timestamp(datetime.now(UTC)))) == 4


@pytest.mark.parametrize(("fields", "field"), [
    ({"page_size": -1}, "page_size"),
    ({"start_time": timestamp(datetime(2030, 1, 2, tzinfo=UTC)),
      "end_time": timestamp(datetime(2030, 1, 1, tzinfo=UTC))}, "end_time"),
    ({"resource": "x" * 501}, "resource"),
    ({"subject": "a\x00b"}, "subject"),
    ({"page_token": "not-a-token"}, "page_token"),
])
async def test_a_bad_listing_request_names_its_field(persona_server, connect, fields, field):
    admin = Caller(connect, persona_server).audit_log("admin")
    rejection = await rejected_in(PERSONA_DOMAIN, admin.ListAuditLogEntries(pb.ListAuditLogEntriesRequest(**fields)),
                                  INVALID)
    assert rejection.fields == [field]


async def test_a_page_token_serves_only_the_filters_it_was_made_for(persona_server, connect):
    caller = Caller(connect, persona_server)
    for _ in range(2):
        await refused(caller.stub(PersonaServiceStub, "author").DeletePersona(
            persona_pb.DeletePersonaRequest(name="not-a-name")), INVALID)
    admin = Caller(connect, persona_server).audit_log("admin")
    first = await admin.ListAuditLogEntries(pb.ListAuditLogEntriesRequest(subject=caller.subject, page_size=1))
    assert first.next_page_token
    rejection = await rejected_in(PERSONA_DOMAIN, admin.ListAuditLogEntries(pb.ListAuditLogEntriesRequest(
        subject=caller.subject, method="/sparring.persona.v1.PersonaService/DeletePersona",
        page_token=first.next_page_token)), INVALID)
    assert rejection.fields == ["page_token"]


async def _code_of(call) -> str:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code().name
    return "OK"


@pytest.mark.parametrize(("request_", "result"), [
    (persona_pb.CreatePersonaRequest(persona=new_persona()), "OK"),
    (persona_pb.DeletePersonaRequest(name="not-a-name"), "INVALID_ARGUMENT"),
])
async def test_a_call_is_answered_only_once_its_entry_is_written(persona_server, connect, engine, request_, result):
    """While the audit log cannot be written to, a call waits for its entry; the answer follows the write."""
    caller = Caller(connect, persona_server)
    stub = caller.stub(PersonaServiceStub, "author")
    method = getattr(stub, type(request_).__name__.removesuffix("Request"))
    async with engine.connect() as holder:
        await holder.begin()
        await holder.execute(sa.text("LOCK TABLE persona.audit_log IN EXCLUSIVE MODE"))
        call = asyncio.ensure_future(_code_of(method(request_)))
        async with engine.connect() as watcher:
            waiting = sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted "
                              "AND relation = 'persona.audit_log'::regclass")
            while not await watcher.scalar(waiting):  # the entry's INSERT is under way, held by the lock
                assert not call.done()
        assert not call.done()
        await holder.rollback()
    assert await call == result
    assert [e.result for e in await caller.entries()] == [result]


async def test_a_call_cancelled_by_its_caller_leaves_an_entry(persona_server, connect, engine):
    caller = Caller(connect, persona_server)
    async with engine.connect() as holder:
        await holder.begin()
        await holder.execute(sa.text("LOCK TABLE persona.personas IN EXCLUSIVE MODE"))
        call = caller.stub(PersonaServiceStub, "author").CreatePersona(
            persona_pb.CreatePersonaRequest(persona=new_persona()))
        async with engine.connect() as watcher:
            waiting = sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted "
                              "AND relation = 'persona.personas'::regclass")
            while not await watcher.scalar(waiting):  # the persona's INSERT is under way, held by the lock
                pass
        call.cancel()
        await holder.rollback()
    # Nobody waits for the entry of a cancelled call: it is written once the writer comes to it.
    while not (entries := await caller.entries()):
        pass
    check(entries[0], caller, ["author"], "/sparring.persona.v1.PersonaService/CreatePersona", "", "CANCELLED")
