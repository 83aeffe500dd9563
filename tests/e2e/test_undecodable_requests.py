"""Requests with strings that are not valid UTF-8, as a protobufjs client sends them, are INVALID_ARGUMENT on every
service: reason INVALID_UTF8, a BadRequest naming each such field by its path, counted in grpc_server_handled_total
like any other call. A live stream ends with that status too, naming the utterance, after acking what came before."""

from __future__ import annotations

from types import SimpleNamespace

import grpc
import pytest
from google.protobuf.message import Message
from grpc_status import rpc_status
from sparring.analysis.v1 import analysis_service_pb2 as analysis_pb
from sparring.audit.v1 import audit_pb2
from sparring.learning.v1 import learning_service_pb2 as learning_pb
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb

from devtools.gateway import Gateway
from tests.e2e.status_details import Rejection, checked_rejection, rejected_in
from tests.e2e.transcript_checks import stream_ended_with
from tests.e2e.transcript_fixtures import new_session, utterance
from tests.probes import metric
from tests.security import secure_channel

INVALID = grpc.StatusCode.INVALID_ARGUMENT
FF_FE = b"\xff\xfe"
LONE_SURROGATE = b"\xed\xa0\x80"  # what protobufjs writes for the JavaScript string "\ud800"
BAD_BYTES = pytest.mark.parametrize("bad", [FF_FE, LONE_SURROGATE], ids=["ff-fe", "lone-surrogate"])


def hole(bad: bytes) -> str:
    """A placeholder with as many UTF-8 bytes as ``bad``, for ``patched`` to replace."""
    return {2: "§", 3: "€"}[len(bad)]


def patched(message: Message, bad: bytes, holes: int = 1) -> bytes:
    """``message`` serialized, with each ``hole(bad)`` in its strings replaced by the bytes ``bad``."""
    data = message.SerializeToString()
    placeholder = hole(bad).encode()
    assert data.count(placeholder) == holes
    return data.replace(placeholder, bad)


def handled(method: str, grpc_type: str = "unary") -> float:
    service, _, name = method.strip("/").rpartition("/")
    labels = {"grpc_type": grpc_type, "grpc_service": service, "grpc_method": name, "grpc_code": INVALID.name}
    return metric("grpc_server_handled_total", **labels)


async def refused(address: str, domain: str, method: str, request: bytes, grpc_type: str = "unary") -> Rejection:
    """Sends the raw ``request`` bytes; checks the call is refused with a rich INVALID_ARGUMENT and counted."""
    before = handled(method, grpc_type)
    async with secure_channel(address) as channel:
        if grpc_type == "unary":
            rejection = await rejected_in(domain, channel.unary_unary(method)(request), INVALID)
        else:
            call = channel.unary_stream(method)(request)
            rejection = checked_rejection(await call.code(), INVALID, await call.details(),
                                          await rpc_status.aio.from_call(call), domain)
    assert handled(method, grpc_type) == before + 1
    return rejection


@BAD_BYTES
async def test_persona_names_a_nested_and_a_repeated_field(persona_server, bad):
    persona = persona_pb.Persona(slug="bad-text", display_name=f"Grace {hole(bad)}", role="CTO",
                                 blueprint=persona_pb.BLUEPRINT_SALES, difficulty=2,
                                 domains=["cloud", f"fin{hole(bad)}ops"])
    request = patched(persona_pb.CreatePersonaRequest(persona=persona), bad, holes=2)
    rejection = await refused(persona_server, "persona.sparring.dev",
                              "/sparring.persona.v1.PersonaService/CreatePersona", request)
    assert rejection.reason == "INVALID_UTF8"
    assert rejection.fields == ["persona.display_name", "persona.domains[1]"]
    assert "UTF-8" in rejection.description_of("persona.display_name")


@BAD_BYTES
async def test_transcript_names_the_field(transcript_server, bad):
    request = patched(transcript_pb.CreateSessionRequest(session=transcript_pb.Session(
        persona=f"personas/{hole(bad)}", blueprint=persona_pb.BLUEPRINT_SALES)), bad)
    rejection = await refused(transcript_server, "transcript.sparring.dev",
                              "/sparring.transcript.v1.TranscriptService/CreateSession", request)
    assert (rejection.reason, rejection.fields) == ("INVALID_UTF8", ["session.persona"])


@BAD_BYTES
async def test_analysis_refuses_a_watch_with_a_bad_session_name(analysis_server, bad):
    request = patched(analysis_pb.WatchSessionRequest(session=f"sessions/{hole(bad)}"), bad)
    rejection = await refused(analysis_server, "analysis.sparring.dev",
                              "/sparring.analysis.v1.AnalysisService/WatchSession", request, "server_stream")
    assert (rejection.reason, rejection.fields) == ("INVALID_UTF8", ["session"])


@BAD_BYTES
async def test_learning_names_fields_inside_repeated_messages(learning_server, bad):
    audit = learning_pb.CorpusAudit(
        source_audit="audits/bad-text", recommendations=["shorter answers", f"less {hole(bad)}"],
        flagged_quotes=[audit_pb2.FlaggedQuote(text="fine"), audit_pb2.FlaggedQuote(text=f"so {hole(bad)}")])
    request = patched(learning_pb.RecordCorpusAuditRequest(audit=audit), bad, holes=2)
    rejection = await refused(learning_server, "learning.sparring.dev",
                              "/sparring.learning.v1.LearningService/RecordCorpusAudit", request)
    assert rejection.reason == "INVALID_UTF8"
    assert sorted(rejection.fields) == ["audit.flagged_quotes[1].text", "audit.recommendations[1]"]


async def test_bytes_that_are_no_message_are_refused_as_malformed(persona_server):
    request = persona_pb.GetPersonaRequest(name="personas/grace").SerializeToString()[:-3]  # cut inside the name
    rejection = await refused(persona_server, "persona.sparring.dev",
                              "/sparring.persona.v1.PersonaService/GetPersona", request)
    assert (rejection.reason, rejection.fields) == ("MALFORMED_MESSAGE", [""])


@BAD_BYTES
async def test_a_stream_ends_naming_the_utterance_after_acking_and_storing_the_earlier_ones(
        transcript_server, transcripts, bad):
    method = "/sparring.transcript.v1.TranscriptService/StreamSession"
    before = handled(method, "bidi_stream")
    session = await new_session(transcripts)
    async with secure_channel(transcript_server) as channel:
        raw_streams = SimpleNamespace(StreamSession=channel.stream_stream(
            method, request_serializer=lambda frame: frame if isinstance(frame, bytes) else frame.SerializeToString(),
            response_deserializer=transcript_pb.StreamSessionResponse.FromString))
        gateway = Gateway(raw_streams, session.name)
        await gateway.read()
        # Pipelined: the bad utterance arrives before the first two are acked.
        gateway.send(utterance(1), utterance(2), patched(utterance(3, f"it costs {hole(bad)}20k"), bad), utterance(4))
        assert [ack.sequence for ack in await gateway.acks_until(2)] == [1, 2]
        rejection = await stream_ended_with(gateway.call, INVALID)
    assert (rejection.reason, rejection.fields) == ("INVALID_UTF8", ["utterance.text"])
    assert rejection.info.metadata["sequence"] == "3"
    assert handled(method, "bidi_stream") == before + 1
    listed = await transcripts.ListMessages(transcript_pb.ListMessagesRequest(parent=session.name))
    assert [m.sequence for m in listed.messages] == [1, 2]
