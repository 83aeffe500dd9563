"""A live reading's window, sent by the transcript service with the reading's request: a live call's readings read
nothing back from the transcript service (not even the session, for its persona and scenario) and score as readings
that read their window back; only the transcript service's identity may send one, a malformed one is refused, and a
reading whose predecessors were missed still reads back the messages since the last one kept. Only the readings near
a session's newest keep the call's measures; one that comes later from further back reads the call back."""

from __future__ import annotations

import grpc
import pytest
import pytest_asyncio
from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.analysis.v1 import analysis_service_pb2_grpc
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from analysis_svc.adapters.repositories import KEEP_MEASURES_BACK
from devtools.gateway import Gateway, utterance_frame
from svckit.context import ORGANIZATION_METADATA_KEY
from tests.e2e.status_details import rejected_in
from tests.e2e.test_analysis_live import CALL
from tests.e2e.transcript_checks import all_rows, scalar
from tests.e2e.transcript_fixtures import new_session, streamed_call
from tests.probes import metric, poll
from tests.security import ORGANIZATION, secure_channel, token

DOMAIN = "analysis.sparring.dev"
TRANSCRIPT_SERVICE = "sparring.transcript.v1.TranscriptService"
USER, PERSONA = transcript_pb.ROLE_USER, transcript_pb.ROLE_ASSISTANT
LONG_CALL = CALL * 2  # readings at 4, 10 and 20
FOR_ACME = ((ORGANIZATION_METADATA_KEY, ORGANIZATION),)  # the organization a service acts for


def _transcript_reads(method: str) -> float:
    """The transcript service's answered calls of ``method``, by every server of this process."""
    return metric("grpc_server_handled_total", grpc_type="unary", grpc_service=TRANSCRIPT_SERVICE,
                  grpc_method=method, grpc_code="OK")


def _readings_by_window(source: str) -> float:
    return metric("sparring_analysis_reading_windows_total", source=source)


@pytest_asyncio.fixture
async def as_transcript_service(analysis_server, connect) -> analysis_service_pb2_grpc.AnalysisServiceStub:
    """The analysis service as the transcript service's identity calls it (for the test organization: FOR_ACME)."""
    return analysis_service_pb2_grpc.AnalysisServiceStub(
        connect(analysis_server, token("service", subject="service:transcript")))


async def _window_of(transcripts, session: str, up_to_sequence: int, size: int = 20) -> pb.ReadingWindow:
    """The window the transcript service sends with a reading up to ``up_to_sequence``, as its API shows it."""
    got = (await transcripts.GetSession(transcript_pb.GetSessionRequest(name=session))).session
    listed = await transcripts.ListMessages(transcript_pb.ListMessagesRequest(
        parent=session, last_n=size, up_to_sequence=up_to_sequence))
    return pb.ReadingWindow(
        blueprint=got.blueprint, persona=got.current_persona or got.persona, scenario=got.scenario,
        last_durable_sequence=listed.last_durable_sequence,
        messages=[pb.WindowMessage(sequence=m.sequence, role=m.role, text=m.text) for m in listed.messages])


def _reading_request(session: str, up_to_sequence: int, window: pb.ReadingWindow | None = None
                     ) -> pb.RequestAnalysisRequest:
    return pb.RequestAnalysisRequest(session=session, up_to_sequence=up_to_sequence,
                                     trigger_id=f"seq-{up_to_sequence}", window=window)


# Readings other tests left in the shared outbox (their replicas had no analysis service, or stopped mid-delivery),
# due now or leased by a replica: a wired replica delivers them as soon as it starts.
_LEFT_IN_THE_OUTBOX = ("SELECT count(*) FROM transcript.outbox WHERE kind = 'analysis' AND state = 'pending' "
                       "AND next_attempt_time < now() + interval '1 minute'")


async def test_a_live_calls_readings_read_nothing_back_from_the_transcript_service(
        wired_transcript, analyses, sarah, engine):
    # The figures below are the whole process's: they may only move for this call.
    await poll(lambda: _nothing_left(engine), lambda: "readings left in the outbox were not delivered")
    async with secure_channel(wired_transcript) as channel:
        stub = transcript_service_pb2_grpc.TranscriptServiceStub(channel)
        session = await new_session(stub)
        watch = analyses.WatchSession(pb.WatchSessionRequest(session=session.name))
        await watch.read()  # the snapshot
        sessions_read, messages_listed = _transcript_reads("GetSession"), _transcript_reads("ListMessages")
        sent = _readings_by_window("sent")
        gateway = Gateway(stub, session.name)
        await gateway.read()
        streamed = 0
        for due in (4, 10, 20):  # each reading is in before the next messages come, as a live call's are
            gateway.send(*(utterance_frame(n, role, text)
                           for n, (role, text) in enumerate(LONG_CALL[streamed:due], start=streamed + 1)))
            await gateway.acks_until(due)
            streamed = due
            event = await watch.read()
            while event.analysis.window.last_sequence != due:
                event = await watch.read()
        gateway.close()
        watch.cancel()
    assert _transcript_reads("ListMessages") == messages_listed
    # Not even the first reading reads the session: the window names its persona and scenario.
    assert _transcript_reads("GetSession") == sessions_read
    assert _readings_by_window("sent") - sent == 3


async def _nothing_left(engine) -> bool:
    return await scalar(engine, _LEFT_IN_THE_OUTBOX) == 0


async def test_a_sent_window_scores_as_the_window_read_back(transcripts, analyses, as_transcript_service):
    sent_to = await streamed_call(transcripts, LONG_CALL)
    read_back = await streamed_call(transcripts, LONG_CALL)
    for up_to in (4, 10, 20):
        with_window = (await as_transcript_service.RequestAnalysis(_reading_request(
            sent_to, up_to, await _window_of(transcripts, sent_to, up_to)), metadata=FOR_ACME)).analysis
        without = (await analyses.RequestAnalysis(_reading_request(read_back, up_to))).analysis
        assert with_window.window == without.window
        assert with_window.say_meter == without.say_meter and with_window.metrics == without.metrics
        assert [(s.type, s.text) for s in with_window.suggestions] == [(s.type, s.text) for s in without.suggestions]


async def test_a_reading_whose_predecessors_were_missed_reads_back_since_the_last_kept(
        transcripts, analyses, as_transcript_service):
    turns = (CALL * 3)[:30]
    session = await streamed_call(transcripts, turns)
    # The session's first reading, at 30: its last 20 messages do not reach back to the call's start.
    window = await _window_of(transcripts, session, 30)
    messages_listed, caught_up = _transcript_reads("ListMessages"), _readings_by_window("caught_up")
    reading = (await as_transcript_service.RequestAnalysis(_reading_request(session, 30, window),
                                                           metadata=FOR_ACME)).analysis
    assert _transcript_reads("ListMessages") - messages_listed >= 1
    assert _readings_by_window("caught_up") - caught_up == 1
    assert (reading.window.first_sequence, reading.window.last_sequence) == (11, 30)
    twin = await streamed_call(transcripts, turns)
    read_back = (await analyses.RequestAnalysis(_reading_request(twin, 30))).analysis
    assert reading.say_meter == read_back.say_meter and reading.metrics == read_back.metrics


async def _kept_measures(engine, session: str) -> list[int]:
    """The readings of ``session`` that keep the call's measures, by the message they read up to."""
    rows = await all_rows(engine, "SELECT up_to_sequence FROM analysis.voice_analysis WHERE session_id = :session "
                                  "AND kind = 'say_meter' AND call_measures IS NOT NULL ORDER BY up_to_sequence",
                          session=session.rsplit("/", 1)[-1])
    return [up_to for (up_to,) in rows]


async def test_only_the_readings_near_the_newest_keep_the_call_measures(transcripts, analyses, engine):
    turns = (CALL * 12)[:120]
    session, in_order = await streamed_call(transcripts, turns), await streamed_call(transcripts, turns)
    readings = range(10, 121, 10)
    for up_to in readings:
        await analyses.RequestAnalysis(_reading_request(session, up_to))
    assert await _kept_measures(engine, session) == [n for n in readings if n >= 120 - KEEP_MEASURES_BACK]
    # A sales call has no track tally: stored as SQL NULL, not as a JSON null
    assert await scalar(engine, "SELECT count(*) FROM analysis.voice_analysis WHERE session_id = :session "
                                "AND jsonb_typeof(call_tally) = 'null'", session=session.rsplit("/", 1)[-1]) == 0
    # A reading that comes late, from before every reading that kept its measures, reads the call back from its
    # start: it scores as the same reading made in order.
    late = (await analyses.RequestAnalysis(_reading_request(session, 55))).analysis
    for up_to in (10, 20, 30, 40, 50):
        await analyses.RequestAnalysis(_reading_request(in_order, up_to))
    made_in_order = (await analyses.RequestAnalysis(_reading_request(in_order, 55))).analysis
    assert late.say_meter == made_in_order.say_meter and late.metrics == made_in_order.metrics


@pytest.mark.parametrize("bearer", [token("admin"), token("interviewer"),
                                    token("service", subject="service:learning")],
                         ids=["admin", "interviewer", "another-service"])
async def test_only_the_transcript_service_may_send_a_window(transcripts, analyses, analysis_server, connect,
                                                             bearer):
    session = await streamed_call(transcripts, CALL)
    window = await _window_of(transcripts, session, 10)
    caller = analysis_service_pb2_grpc.AnalysisServiceStub(connect(analysis_server, bearer))
    refusal = await rejected_in(DOMAIN, caller.RequestAnalysis(_reading_request(session, 10, window)),
                                grpc.StatusCode.PERMISSION_DENIED)
    assert refusal.reason == "WINDOW_NOT_ALLOWED" and refusal.info.metadata["field"] == "window"
    assert not (await analyses.ListAnalyses(pb.ListAnalysesRequest(parent=session))).analyses


def _swapped(window: pb.ReadingWindow) -> None:
    window.messages[2].sequence, window.messages[3].sequence = 4, 3


def _above(window: pb.ReadingWindow) -> None:
    window.messages[-1].sequence = 11


def _too_many(window: pb.ReadingWindow) -> None:
    window.messages.extend(pb.WindowMessage(sequence=0, role=USER, text="more") for _ in range(11))
    for sequence, message in enumerate(window.messages, start=1):
        message.sequence = sequence


def _empty_text(window: pb.ReadingWindow) -> None:
    window.messages[5].text = "  "


def _unknown_role(window: pb.ReadingWindow) -> None:
    window.messages[1].role = transcript_pb.ROLE_UNSPECIFIED


def _unknown_blueprint(window: pb.ReadingWindow) -> None:
    window.blueprint = 99


def _behind(window: pb.ReadingWindow) -> None:
    window.last_durable_sequence = 9


def _unnamed_scenario(window: pb.ReadingWindow) -> None:
    window.scenario = "pricing-call"


@pytest.mark.parametrize(("malform", "field"), [
    (_swapped, "window.messages[3].sequence"), (_above, "window.messages[9].sequence"),
    (_too_many, "window.messages"), (_empty_text, "window.messages[5].text"),
    (_unknown_role, "window.messages[1].role"), (_unknown_blueprint, "window.blueprint"),
    (_behind, "window.last_durable_sequence"), (_unnamed_scenario, "window.scenario"),
], ids=["not-ascending", "above-up-to", "too-many", "empty-text", "unknown-role", "unknown-blueprint", "behind",
        "unnamed-scenario"])
async def test_a_malformed_window_is_refused_naming_its_field(transcripts, analyses, as_transcript_service,
                                                             malform, field):
    session = await streamed_call(transcripts, CALL)
    window = await _window_of(transcripts, session, 10)
    malform(window)
    refusal = await rejected_in(DOMAIN, as_transcript_service.RequestAnalysis(_reading_request(session, 10, window),
                                                                              metadata=FOR_ACME),
                                grpc.StatusCode.INVALID_ARGUMENT)
    assert field in refusal.fields
    assert not (await analyses.ListAnalyses(pb.ListAnalysesRequest(parent=session))).analyses
