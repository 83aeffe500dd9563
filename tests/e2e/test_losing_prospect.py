"""The Say Meter's trend and the "losing the prospect" alert through the public API: a call is streamed as a gateway
streams it, each reading taken before the next messages come, while an interviewer watches. A call of the sales
corpus that turns bad (a good start, then the buyer's noes and a seller who keeps on) raises the alert on the watch
stream, once per episode of decline; a good call never does."""

from __future__ import annotations

import grpc
from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from calls.turns import Role
from devtools.gateway import Gateway, utterance_frame
from devtools.say_meter_corpus import DEVELOPMENT, load_calls
from tests.e2e.transcript_fixtures import new_session
from tests.security import secure_channel
from transcript_svc.domain.model import analysis_due

BAD = "save-desk-aol-cancel-the-account"  # label 1: the meter reaches the 30s, then the seller will not take a no
GOOD = "objection-budget-gap-roi-pilot"  # label 4: the meter rises from 48 to 70
INTERVAL = 10
_ROLES = {Role.USER: transcript_pb.ROLE_USER, Role.ASSISTANT: transcript_pb.ROLE_ASSISTANT}


def _corpus_call(call_id: str) -> list[tuple[int, str]]:
    call = next(call for call in load_calls(DEVELOPMENT) if call["id"] == call_id)
    return [(_ROLES[Role(turn["role"])], turn["text"]) for turn in call["turns"]]


async def _watched_call(transcript_address: str, analyses, turns: list[tuple[int, str]]) -> tuple[
        list[pb.WatchSessionResponse], pb.SessionSnapshot]:
    """Every watch event of the call after the first snapshot, and the session's snapshot before it ended."""
    async with secure_channel(transcript_address) as channel:
        stub = transcript_service_pb2_grpc.TranscriptServiceStub(channel)
        session = await new_session(stub, interval=INTERVAL)
        watch = analyses.WatchSession(pb.WatchSessionRequest(session=session.name))
        await watch.read()
        gateway = Gateway(stub, session.name)
        await gateway.read()
        events: list[pb.WatchSessionResponse] = []
        sent = 0
        for due in analysis_due(0, len(turns), INTERVAL):
            gateway.send(*(utterance_frame(n, role, text)
                           for n, (role, text) in enumerate(turns[sent:due], start=sent + 1)))
            await gateway.acks_until(due)
            sent = due
            # Its reading is in before the next messages come, as a live call's readings are.
            while not (events and events[-1].analysis.window.last_sequence == due):
                events.append(await watch.read())
        gateway.send(*(utterance_frame(n, role, text) for n, (role, text) in enumerate(turns[sent:], start=sent + 1)))
        await gateway.acks_until(len(turns))
        gateway.close()
        live = (await analyses.GetSessionSnapshot(pb.GetSessionSnapshotRequest(session=session.name))).snapshot
        await stub.EndSession(transcript_pb.EndSessionRequest(name=session.name))
        while not events[-1].HasField("audit"):
            events.append(await watch.read())
        assert await watch.code() == grpc.StatusCode.OK
    return events, live


def _alerts(events: list[pb.WatchSessionResponse]) -> list[pb.LosingProspectAlert]:
    return [event.losing_prospect for event in events if event.WhichOneof("event") == "losing_prospect"]


def _readings(events: list[pb.WatchSessionResponse]) -> list[pb.Analysis]:
    return [event.analysis for event in events if event.WhichOneof("event") == "analysis"]


async def test_a_call_that_turns_bad_raises_the_alert_on_the_watch_stream_once_per_episode(wired_transcript,
                                                                                            analyses):
    events, live = await _watched_call(wired_transcript, analyses, _corpus_call(BAD))

    readings = _readings(events)
    alerts = _alerts(events)
    raised = [alert for alert in alerts if alert.change == pb.ALERT_CHANGE_RAISED]
    assert raised and all(alert.active and alert.reason and alert.projected_score < 50 for alert in raised)
    # Each alert event follows the reading it is of, and an episode is raised again only after it was cleared.
    for alert in alerts:
        index = next(i for i, event in enumerate(events) if event.losing_prospect == alert)
        assert events[index - 1].analysis.name == alert.analysis
        assert events[index - 1].analysis.losing_prospect.change == alert.change
    assert [alert.change for alert in alerts][::2] == [pb.ALERT_CHANGE_RAISED] * len(alerts[::2])
    assert [alert.change for alert in alerts][1::2] == [pb.ALERT_CHANGE_CLEARED] * len(alerts[1::2])
    # The meter fell: the last live reading is under the one before, its trend slopes down, and its alert is still on
    # in the snapshot.
    last_live = readings[-2]
    assert last_live.say_meter.score < readings[-3].say_meter.score and last_live.trend.slope < 0
    assert last_live.trend.reading_count >= 2 and last_live.losing_prospect.active
    assert live.trend == last_live.trend and live.losing_prospect == last_live.losing_prospect
    # The final reading predicts nothing.
    final = readings[-1]
    assert final.trigger.source == pb.TRIGGER_SOURCE_SESSION_END and not final.losing_prospect.active


async def test_a_good_call_never_raises_it(wired_transcript, analyses):
    events, live = await _watched_call(wired_transcript, analyses, _corpus_call(GOOD))

    readings = _readings(events)
    assert not _alerts(events)
    assert not any(reading.losing_prospect.active for reading in readings)
    assert readings[0].trend.direction == pb.TREND_DIRECTION_UNSPECIFIED  # a first reading has no trend
    assert pb.TREND_DIRECTION_FALLING not in [reading.trend.direction for reading in readings]
    assert live.trend.direction == pb.TREND_DIRECTION_RISING and not live.losing_prospect.active
