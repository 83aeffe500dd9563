"""Who sees and changes a session's analyses, end to end: the real transcript and analysis servers, callers with
tokens of two organizations, two interviewers of one, an analyst, admins and a service.

Every record belongs to the organization it was made for; another organization's is not found, saying exactly
what a record that does not exist says. Within an organization, a session's interviewer (the subject that created
it) reads, watches and acts on it; other interviewers are refused (NOT_A_PARTICIPANT)."""

from __future__ import annotations

import grpc
import pytest
from grpc_status import rpc_status
from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.analysis.v1 import analysis_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from svckit.context import ORGANIZATION_METADATA_KEY
from tests.builders import uid
from tests.e2e.status_details import Rejection, checked_rejection, rejected_in
from tests.e2e.test_analysis_live import CALL
from tests.e2e.transcript_fixtures import streamed_call
from tests.security import ORGANIZATION, OTHER_ORGANIZATION, token

DOMAIN = "analysis.sparring.dev"
NOT_FOUND, DENIED = grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED
APPLICABLE = (pb.SUGGESTION_TYPE_CONTEXT_INJECTION, pb.SUGGESTION_TYPE_CURVEBALL)
ALICE, BOB = token("interviewer", subject="alice@acme"), token("interviewer", subject="bob@acme")


@pytest.fixture(scope="module")
def stubs(connect, analysis_server, transcript_server):
    """``stubs(bearer)``: the analysis and transcript services as the bearer of that token calls them."""
    def of(bearer: str):
        return (analysis_service_pb2_grpc.AnalysisServiceStub(connect(analysis_server, bearer)),
                transcript_service_pb2_grpc.TranscriptServiceStub(connect(transcript_server, bearer)))

    return of


@pytest.fixture(scope="module")
def globex(stubs, other_sarah):
    """The analysis and transcript services as an admin of the other organization calls them."""
    return stubs(token("admin", organization=OTHER_ORGANIZATION))


async def _analysed_call(transcripts, analyses, creator=None, session_id: str = "") -> pb.Analysis:
    """A call streamed in through ``transcripts`` (created through ``creator`` if given) and analysed."""
    session = await streamed_call(transcripts, CALL, creator, session_id)
    return (await analyses.RequestAnalysis(pb.RequestAnalysisRequest(session=session, trigger_id="seq-10"))).analysis


def _applicable(analysis: pb.Analysis) -> pb.Suggestion:
    return next(s for s in analysis.suggestions if s.type in APPLICABLE)


def _elsewhere(name: str) -> str:
    """``name`` with its last id replaced by one no record has."""
    return f"{name.rsplit('/', 1)[0]}/{uid()}"


def _said(rejection: Rejection, name: str) -> tuple:
    """What a refusal tells about ``name``, with the name itself left out."""
    return (rejection.status.code, rejection.status.message.replace(name, "<name>"), rejection.info.domain,
            rejection.info.reason, {k: v.replace(name, "<name>") for k, v in rejection.info.metadata.items()},
            rejection.violations)


async def _watch_refused(watch: grpc.aio.UnaryStreamCall, code: grpc.StatusCode) -> Rejection:
    """A watch refused before it streamed anything."""
    with pytest.raises(grpc.aio.AioRpcError):
        await watch.read()
    return checked_rejection(await watch.code(), code, await watch.details(), await rpc_status.aio.from_call(watch),
                             DOMAIN)


async def test_another_organizations_analyses_suggestions_and_audits_are_not_found_and_stay_unchanged(
        transcripts, analyses, sarah, globex):
    outsider, _ = globex
    analysis = await _analysed_call(transcripts, analyses)
    suggestion = _applicable(analysis)
    await transcripts.EndSession(transcript_pb.EndSessionRequest(name=analysis.session))
    audit = (await analyses.AuditSession(pb.AuditSessionRequest(session=analysis.session))).audit

    for existing, call in (
            (analysis.name, lambda name: outsider.GetAnalysis(pb.GetAnalysisRequest(name=name))),
            (suggestion.name, lambda name: outsider.GetSuggestion(pb.GetSuggestionRequest(name=name))),
            (suggestion.name, lambda name: outsider.ApplySuggestion(pb.ApplySuggestionRequest(name=name))),
            (suggestion.name, lambda name: outsider.DismissSuggestion(pb.DismissSuggestionRequest(name=name))),
            (audit.name, lambda name: outsider.GetPersonaAudit(pb.GetPersonaAuditRequest(name=name)))):
        missing = _elsewhere(existing)
        hidden, absent = await rejected_in(DOMAIN, call(existing), NOT_FOUND), await rejected_in(
            DOMAIN, call(missing), NOT_FOUND)
        assert _said(hidden, existing) == _said(absent, missing)

    session = analysis.session
    assert not (await outsider.ListAnalyses(pb.ListAnalysesRequest(parent=session))).analyses
    assert not (await outsider.ListSuggestions(pb.ListSuggestionsRequest(parent=session))).suggestions
    assert not (await outsider.ListPersonaAudits(pb.ListPersonaAuditsRequest(session=session))).audits
    snapshot = (await outsider.GetSessionSnapshot(pb.GetSessionSnapshotRequest(session=session))).snapshot
    assert snapshot == pb.SessionSnapshot(session=session)
    assert (await analyses.GetSuggestion(pb.GetSuggestionRequest(name=suggestion.name))).suggestion == suggestion


async def test_request_ids_are_each_organizations_own(transcripts, analyses, globex):
    request_id = f"apply-{uid()}"
    for transcript_stub, analysis_stub in ((transcripts, analyses), globex[::-1]):
        suggestion = _applicable(await _analysed_call(transcript_stub, analysis_stub))
        applied = (await analysis_stub.ApplySuggestion(pb.ApplySuggestionRequest(
            name=suggestion.name, request_id=request_id))).suggestion
        assert (applied.name, applied.state) == (suggestion.name, pb.SUGGESTION_STATE_APPLIED)


async def test_another_interviewer_is_refused_every_call_on_the_session_and_changes_nothing(
        transcripts, analyses, stubs):
    _, alices_transcripts = stubs(ALICE)
    bob, _ = stubs(BOB)
    analysis = await _analysed_call(transcripts, analyses, creator=alices_transcripts)
    session, suggestion = analysis.session, _applicable(analysis)
    for call in (bob.GetAnalysis(pb.GetAnalysisRequest(name=analysis.name)),
                 bob.ListAnalyses(pb.ListAnalysesRequest(parent=session)),
                 bob.GetSessionSnapshot(pb.GetSessionSnapshotRequest(session=session)),
                 bob.GetSuggestion(pb.GetSuggestionRequest(name=suggestion.name)),
                 bob.ListSuggestions(pb.ListSuggestionsRequest(parent=session)),
                 bob.ApplySuggestion(pb.ApplySuggestionRequest(name=suggestion.name)),
                 bob.DismissSuggestion(pb.DismissSuggestionRequest(name=suggestion.name)),
                 bob.RequestAnalysis(pb.RequestAnalysisRequest(session=session, trigger_id="bob"))):
        assert (await rejected_in(DOMAIN, call, DENIED)).reason == "NOT_A_PARTICIPANT"
    watch = bob.WatchSession(pb.WatchSessionRequest(session=session))
    assert (await _watch_refused(watch, DENIED)).reason == "NOT_A_PARTICIPANT"
    assert (await analyses.GetSuggestion(pb.GetSuggestionRequest(name=suggestion.name))).suggestion == suggestion
    assert [a.name for a in (await analyses.ListAnalyses(pb.ListAnalysesRequest(parent=session))).analyses] == \
        [analysis.name]


async def test_a_service_acts_for_the_organization_it_names_and_without_one_creates_and_sees_nothing(
        transcripts, analyses, stubs):
    service, _ = stubs(token("service", subject="service:transcript"))
    session = await streamed_call(transcripts, CALL)
    for_acme = ((ORGANIZATION_METADATA_KEY, ORGANIZATION),)
    analysis = (await service.RequestAnalysis(pb.RequestAnalysisRequest(session=session, trigger_id="seq-10"),
                                              metadata=for_acme)).analysis
    assert (await analyses.GetAnalysis(pb.GetAnalysisRequest(name=analysis.name))).analysis == analysis

    refused = await rejected_in(DOMAIN, service.RequestAnalysis(pb.RequestAnalysisRequest(
        session=session, up_to_sequence=5, trigger_id="seq-5")), grpc.StatusCode.FAILED_PRECONDITION)
    assert refused.reason == "ORGANIZATION_REQUIRED"
    await transcripts.EndSession(transcript_pb.EndSessionRequest(name=session))
    refused = await rejected_in(DOMAIN, service.AuditSession(pb.AuditSessionRequest(session=session)),
                                grpc.StatusCode.FAILED_PRECONDITION)
    assert refused.reason == "ORGANIZATION_REQUIRED"
    await rejected_in(DOMAIN, service.GetAnalysis(pb.GetAnalysisRequest(name=analysis.name)), NOT_FOUND)
    assert not (await service.ListAnalyses(pb.ListAnalysesRequest(parent=session))).analyses
    assert [a.name for a in (await analyses.ListAnalyses(pb.ListAnalysesRequest(parent=session))).analyses] == \
        [analysis.name]


# The tests below need the transcript service to keep sessions per organization and to name a session's
# interviewer (Session.interviewer).

async def test_the_sessions_interviewer_watches_requests_and_applies_another_does_not_and_an_analyst_only_reads(
        transcripts, analyses, stubs):
    alice, alices_transcripts = stubs(ALICE)
    bob, _ = stubs(BOB)
    analyst, _ = stubs(token("analyst"))
    session = await streamed_call(transcripts, CALL, creator=alices_transcripts)
    analysis = (await alice.RequestAnalysis(pb.RequestAnalysisRequest(session=session, trigger_id="seq-10"))).analysis
    watch = alice.WatchSession(pb.WatchSessionRequest(session=session))
    assert (await watch.read()).snapshot.latest_analysis == analysis
    suggestion = _applicable(analysis)
    assert (await _watch_refused(bob.WatchSession(pb.WatchSessionRequest(session=session)), DENIED)).reason == \
        "NOT_A_PARTICIPANT"
    applied = (await alice.ApplySuggestion(pb.ApplySuggestionRequest(name=suggestion.name))).suggestion
    assert applied.state == pb.SUGGESTION_STATE_APPLIED
    assert (await watch.read()).suggestion == applied
    watch.cancel()
    assert (await analyst.GetSuggestion(pb.GetSuggestionRequest(name=suggestion.name))).suggestion == applied
    assert (await analyst.GetAnalysis(pb.GetAnalysisRequest(name=analysis.name))).analysis.name == analysis.name
    refused = await rejected_in(DOMAIN, analyst.DismissSuggestion(pb.DismissSuggestionRequest(
        name=suggestion.name)), DENIED)
    assert refused.reason == "ROLE_NOT_PERMITTED"


async def test_another_organizations_session_cannot_be_watched_or_analysed(transcripts, analyses, globex):
    outsider, _ = globex
    session = await streamed_call(transcripts, CALL)
    missing = _elsewhere(session)
    for name in (session, missing):
        await _watch_refused(outsider.WatchSession(pb.WatchSessionRequest(session=name)), NOT_FOUND)
    hidden = await rejected_in(DOMAIN, outsider.RequestAnalysis(pb.RequestAnalysisRequest(
        session=session, trigger_id="seq-10")), NOT_FOUND)
    absent = await rejected_in(DOMAIN, outsider.RequestAnalysis(pb.RequestAnalysisRequest(
        session=missing, trigger_id="seq-10")), NOT_FOUND)
    assert _said(hidden, session) == _said(absent, missing)
    assert not (await analyses.ListAnalyses(pb.ListAnalysesRequest(parent=session))).analyses


async def test_two_organizations_each_analyse_a_session_of_the_same_id(transcripts, analyses, globex):
    outsider, outsiders_transcripts = globex
    session_id = f"call-{uid()}"
    ours = await _analysed_call(transcripts, analyses, session_id=session_id)
    theirs = await _analysed_call(outsiders_transcripts, outsider, session_id=session_id)
    assert ours.session == theirs.session and ours.name != theirs.name
    for stub, own in ((analyses, ours), (outsider, theirs)):
        listed = await stub.ListAnalyses(pb.ListAnalysesRequest(parent=ours.session))
        assert [a.name for a in listed.analyses] == [own.name]
