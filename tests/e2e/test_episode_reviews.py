"""An ended call's episode carries the analysis service's review of it: the Say Meter arc (the live readings' scores
in call order, then the final reading) and the persona's audit (overall score, flags). The review reaches the
persona's memory through the analysis service's outbox, whichever of the episode and the review comes first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
import pytest_asyncio
from sparring.analysis.v1 import analysis_service_pb2 as analysis_pb
from sparring.audit.v1 import audit_pb2
from sparring.persona.v1 import memory_service_pb2 as mb
from sparring.persona.v1 import memory_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from persona_svc.app import ERROR_DOMAIN
from svckit.notify import PgListener
from tests.builders import uid
from tests.e2e.status_details import rejected_in
from tests.e2e.test_memory_rounds import STREAM_ROLES
from tests.e2e.test_persona_memory import (
    ROUND_ONE,
    persona,  # noqa: F401 (a fixture)
    record,
)
from tests.e2e.transcript_fixtures import streamed_call
from tests.security import OTHER_ORGANIZATION, secure_channel, token
from transcript_svc.app import build

SARAH = "personas/sarah-chen"


@pytest_asyncio.fixture(scope="module")
async def memories(channel) -> memory_service_pb2_grpc.MemoryServiceStub:
    return memory_service_pb2_grpc.MemoryServiceStub(channel)


@pytest_asyncio.fixture
async def reviewed(database_url, memories) -> AsyncIterator[Callable[[str], Awaitable[mb.Episode]]]:
    """``await reviewed(episode_name)``: the episode once it exists with its review, read again each time the
    persona service announces a change of one of its candidate's episodes."""
    heard: dict[str, asyncio.Event] = {}

    def on_change(payload: str) -> None:  # "episodes:{persona}/{candidate}/{session}:{organization}"
        table, _, scope = payload.partition(":")
        if table == "episodes":
            heard.setdefault(scope.split("/")[1], asyncio.Event()).set()

    listener = PgListener("reviews-waiter", database_url, {"persona_changes": on_change})
    await listener.start()

    async def wait(name: str) -> mb.Episode:
        candidate = name.split("/")[3]
        async with asyncio.timeout(60):
            while True:
                changed = heard[candidate] = asyncio.Event()  # armed before reading: no announcement is missed
                try:
                    episode = (await memories.GetEpisode(mb.GetEpisodeRequest(name=name))).episode
                    if episode.HasField("audit"):
                        return episode
                except grpc.aio.AioRpcError as error:
                    assert error.code() == grpc.StatusCode.NOT_FOUND
                await changed.wait()

    yield wait
    await listener.stop()


@pytest_asyncio.fixture
async def audited_transcripts(transcript_settings, engine, transcript_schema, analysis_server):
    """A transcript replica handing its triggers and ended calls to the real analysis service, with a live
    reading every two messages."""
    app = await build(transcript_settings(analysis_address=analysis_server, analysis_interval=2), engine)
    await app.start()
    async with secure_channel(app.address) as channel:
        yield transcript_service_pb2_grpc.TranscriptServiceStub(channel)
    await app.stop(grace=1)


async def test_an_ended_calls_episode_gets_its_say_meter_arc_and_audit(audited_transcripts, analyses, memories,
                                                                      reviewed):
    candidate = uid()
    session = await streamed_call(audited_transcripts, [(STREAM_ROLES[role], text) for role, text in ROUND_ONE],
                                  candidate=f"candidates/{candidate}")
    await audited_transcripts.EndSession(pb.EndSessionRequest(name=session))

    episode = await reviewed(f"{SARAH}/candidates/{candidate}/episodes/{session.removeprefix('sessions/')}")

    readings = (await analyses.ListAnalyses(analysis_pb.ListAnalysesRequest(parent=session))).analyses
    live = [r.say_meter.score for r in readings if r.trigger.source != analysis_pb.TRIGGER_SOURCE_SESSION_END]
    (final,) = [r for r in readings if r.trigger.source == analysis_pb.TRIGGER_SOURCE_SESSION_END]
    assert live and list(episode.say_meter.scores) == live
    assert episode.say_meter.final_score == final.say_meter.score
    (audit,) = (await analyses.ListPersonaAudits(analysis_pb.ListPersonaAuditsRequest(session=session))).audits
    assert episode.audit.audit == audit.name and episode.audit.overall_score == pytest.approx(audit.overall_score)
    assert [(f.reason, f.message_sequence) for f in episode.audit.flags] == [
        (q.reason, q.sequence) for q in audit.flagged_quotes]
    (recalled,) = (await memories.RecallEpisodes(mb.RecallEpisodesRequest(
        persona=SARAH, candidate=f"candidates/{candidate}", context="security questionnaire"))).episodes
    assert recalled.episode == episode


def review(persona_name: str, session: str, *scores: int, final: int | None = 40,
           overall: float = 6.5) -> mb.RecordEpisodeReviewRequest:
    request = mb.RecordEpisodeReviewRequest(
        persona=persona_name, session=f"sessions/{session}", say_meter=mb.SayMeterArc(scores=scores),
        audit=mb.EpisodeAudit(audit=f"audits/{uid()}", overall_score=overall, flags=[
            mb.EpisodeFlag(reason=audit_pb2.FLAG_REASON_TOO_LONG, message_sequence=4)]))
    if final is not None:
        request.say_meter.final_score = final
    return request


async def test_a_review_before_its_episode_waits_for_it_and_is_kept_once(memories, persona):  # noqa: F811
    candidate, session = uid(), uid()
    first = review(persona.name, session, 35, 52)
    assert not (await memories.RecordEpisodeReview(first)).duplicate
    assert (await memories.RecordEpisodeReview(review(persona.name, session, 90, final=None))).duplicate

    await record(memories, persona, candidate, session, ROUND_ONE)

    episode = (await memories.GetEpisode(mb.GetEpisodeRequest(
        name=f"{persona.name}/candidates/{candidate}/episodes/{session}"))).episode
    assert episode.say_meter == first.say_meter and episode.audit == first.audit


async def test_an_episode_without_a_review_has_none(memories, persona):  # noqa: F811
    candidate, session = uid(), uid()
    await record(memories, persona, candidate, session, ROUND_ONE)
    episode = (await memories.GetEpisode(mb.GetEpisodeRequest(
        name=f"{persona.name}/candidates/{candidate}/episodes/{session}"))).episode
    assert episode.outcome == "commitment"
    assert not episode.HasField("say_meter") and not episode.HasField("audit")


async def test_bad_reviews_and_other_organizations_are_refused(memories, persona, persona_server,  # noqa: F811
                                                               connect):
    bad = review(persona.name, uid(), 30, 101, final=-1, overall=11)
    bad.audit.flags.add(reason=999, message_sequence=0)
    refused = await rejected_in(ERROR_DOMAIN, memories.RecordEpisodeReview(bad), grpc.StatusCode.INVALID_ARGUMENT)
    assert refused.fields == ["audit.flags[1].reason"]
    del bad.audit.flags[-1]
    refused = await rejected_in(ERROR_DOMAIN, memories.RecordEpisodeReview(bad), grpc.StatusCode.INVALID_ARGUMENT)
    assert refused.fields == ["say_meter.scores", "say_meter.final_score", "audit.overall_score"]
    refused = await rejected_in(ERROR_DOMAIN, memories.RecordEpisodeReview(review("people/ann", uid())),
                                grpc.StatusCode.INVALID_ARGUMENT)
    assert refused.fields == ["persona"]

    others = memory_service_pb2_grpc.MemoryServiceStub(
        connect(persona_server, token("admin", organization=OTHER_ORGANIZATION)))
    await rejected_in(ERROR_DOMAIN, others.RecordEpisodeReview(review(persona.name, uid())),
                      grpc.StatusCode.NOT_FOUND)
    candidate, session = uid(), uid()
    await record(memories, persona, candidate, session, ROUND_ONE)
    name = f"{persona.name}/candidates/{candidate}/episodes/{session}"
    await rejected_in(ERROR_DOMAIN, others.GetEpisode(mb.GetEpisodeRequest(name=name)), grpc.StatusCode.NOT_FOUND)
    missing = await rejected_in(ERROR_DOMAIN, memories.GetEpisode(mb.GetEpisodeRequest(
        name=f"{persona.name}/candidates/{candidate}/episodes/{uid()}")), grpc.StatusCode.NOT_FOUND)
    assert missing.reason == "EPISODE_NOT_FOUND"
    refused = await rejected_in(ERROR_DOMAIN, memories.GetEpisode(mb.GetEpisodeRequest(name="episodes/x")),
                                grpc.StatusCode.INVALID_ARGUMENT)
    assert refused.fields == ["name"]


async def test_erasing_a_candidate_erases_the_reviews_of_its_episodes(memories, persona):  # noqa: F811
    candidate, session = uid(), uid()
    await record(memories, persona, candidate, session, ROUND_ONE)
    await memories.RecordEpisodeReview(review(persona.name, session, 35))

    await memories.EraseCandidateMemory(mb.EraseCandidateMemoryRequest(candidate=f"candidates/{candidate}"))

    # The same call learned again has no review left to join.
    await record(memories, persona, candidate, session, ROUND_ONE)
    episode = (await memories.GetEpisode(mb.GetEpisodeRequest(
        name=f"{persona.name}/candidates/{candidate}/episodes/{session}"))).episode
    assert not episode.HasField("audit")
