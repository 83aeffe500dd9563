"""The Say Meter over the whole call, streamed through the public API as a gateway streams it: a short call gets a
first reading after two exchanges, and a final reading of the whole call when it ends, before its audit; the
snapshot and the watch stream say when both are in. A call in Spanish is read so too, with the Spanish phrases."""

from __future__ import annotations

import grpc
import pytest
from sparring.analysis.v1 import analysis_service_pb2 as pb
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb
from sparring.transcript.v1 import transcript_service_pb2_grpc

from devtools.gateway import Gateway, utterance_frame
from tests.e2e.transcript_fixtures import new_session
from tests.security import secure_channel

USER, PERSONA = transcript_pb.ROLE_USER, transcript_pb.ROLE_ASSISTANT
SHORT_CALL = [
    (USER, "Thanks for taking the call. What made you look at scheduling tools this spring?"),
    (PERSONA, "Our nurses lose an hour a day swapping shifts over text messages."),
    (USER, "An hour a day is a lot. Who else feels that, and what has it cost you so far?"),
    (PERSONA, "The ward managers, and we paid twelve thousand in overtime last quarter."),
    (USER, "If that overtime went away, what would success look like for you by the summer?"),
    (PERSONA, "Overtime halved and no more missed shifts. The director signs off on anything like this."),
    (USER, "Could we book thirty minutes with the director on Thursday to walk through it?"),
    (PERSONA, "Yes, Thursday at ten works, I'll send the invite."),
]
SHORT_CALL_ES = [
    (USER, "Gracias por atenderme. ¿Qué os llevó a buscar una herramienta de turnos esta primavera?"),
    (PERSONA, "Nuestras enfermeras pierden una hora al día cambiando turnos por mensajes."),
    (USER, "Una hora al día es mucho. ¿Quién más lo nota, y cuánto os ha costado hasta ahora?"),
    (PERSONA, "Las supervisoras, y pagamos doce mil euros en horas extra el último trimestre."),
    (USER, "Si esas horas extra desaparecieran, ¿cómo sabríais que ha sido un éxito para el verano?"),
    (PERSONA, "Horas extra a la mitad y ningún turno sin cubrir. La directora tiene que aprobar algo así."),
    (USER, "¿Podemos reservar treinta minutos con la directora el jueves para verlo juntos?"),
    (PERSONA, "Sí, el jueves a las diez me va bien, le mando la invitación."),
]


@pytest.mark.parametrize(("call", "language"), [(SHORT_CALL, "en"), (SHORT_CALL_ES, "es")], ids=["en", "es"])
async def test_a_short_call_gets_an_early_reading_then_a_final_one_before_its_audit(
        call, language, wired_transcript, analyses, sarah):
    async with secure_channel(wired_transcript) as channel:
        stub = transcript_service_pb2_grpc.TranscriptServiceStub(channel)
        session = await new_session(stub)
        watch = analyses.WatchSession(pb.WatchSessionRequest(session=session.name))
        first = await watch.read()
        assert not first.snapshot.final_reading and not first.snapshot.HasField("latest_analysis")
        gateway = Gateway(stub, session.name)
        await gateway.read()
        gateway.send(*(utterance_frame(n, role, text) for n, (role, text) in enumerate(call, start=1)))
        await gateway.acks_until(len(call))
        gateway.close()
        early = await watch.read()
        await stub.EndSession(transcript_pb.EndSessionRequest(name=session.name))
        final, audit = await watch.read(), await watch.read()
        assert await watch.code() == grpc.StatusCode.OK  # the audit was the last event

    assert (early.analysis.trigger.trigger_id, early.analysis.window.last_sequence) == ("seq-4", 4)
    assert early.analysis.trigger.source == pb.TRIGGER_SOURCE_MESSAGE_COUNT
    assert final.analysis.trigger.source == pb.TRIGGER_SOURCE_SESSION_END
    assert (final.analysis.window.first_sequence, final.analysis.window.last_sequence) == (1, len(call))
    assert (final.analysis.language, final.analysis.language_supported) == (language, True)
    assert final.analysis.metrics.next_step_committed and final.analysis.metrics.success_criteria_covered
    assert audit.audit.session == session.name
    snapshot = (await analyses.GetSessionSnapshot(pb.GetSessionSnapshotRequest(session=session.name))).snapshot
    assert snapshot.final_reading and snapshot.latest_analysis.name == final.analysis.name
    assert [point.last_sequence for point in snapshot.score_history] == [4, len(call)]
    assert snapshot.audit.name == audit.audit.name
