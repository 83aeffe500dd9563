"""Each service receives requests up to its own limit and refuses bigger ones with RESOURCE_EXHAUSTED; a response
above the send limit fails the call the same way."""

from __future__ import annotations

import grpc
from google.protobuf.message import Message
from sparring.analysis.v1 import analysis_service_pb2 as analysis_pb
from sparring.learning.v1 import learning_service_pb2 as learning_pb
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import transcript_service_pb2 as transcript_pb

from analysis_svc.config import AnalysisSettings
from learning_svc.config import LearningSettings
from persona_svc.config import PersonaSettings
from svckit.guard import MethodRule
from svckit.server import GrpcApp
from tests.security import secure_channel, security
from transcript_svc.config import TranscriptSettings

PADDING_FIELD = 15_000  # a field number no request uses: the server keeps it as an unknown field


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def padded(request: Message, size: int) -> bytes:
    """``request`` serialized and grown to exactly ``size`` bytes by a length-delimited unknown field."""
    data = request.SerializeToString() + _varint(PADDING_FIELD << 3 | 2)
    for length_bytes in range(1, 6):
        length = size - len(data) - length_bytes
        if len(_varint(length)) == length_bytes:
            return data + _varint(length) + bytes(length)
    raise AssertionError(f"no padding makes {size} bytes")


def default_receive_limit(settings_cls) -> int:
    return settings_cls.model_fields["max_receive_message_bytes"].default


async def code_of(address: str, method: str, request: bytes) -> grpc.StatusCode:
    async with secure_channel(address) as channel:
        try:
            await channel.unary_unary(method)(request)
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def test_each_service_serves_a_request_at_its_limit_and_refuses_one_byte_more(
        persona_server, transcript_server, analysis_server, learning_server):
    cases = [
        (persona_server, PersonaSettings, "/sparring.persona.v1.PersonaService/ListArchetypes",
         persona_pb.ListArchetypesRequest()),
        (transcript_server, TranscriptSettings, "/sparring.transcript.v1.TranscriptService/ListSessions",
         transcript_pb.ListSessionsRequest()),
        (analysis_server, AnalysisSettings, "/sparring.analysis.v1.AnalysisService/GetSessionSnapshot",
         analysis_pb.GetSessionSnapshotRequest(session="sessions/no-such-call")),
        (learning_server, LearningSettings, "/sparring.learning.v1.LearningService/ListCorpusAudits",
         learning_pb.ListCorpusAuditsRequest()),
    ]
    for address, settings_cls, method, request in cases:
        limit = default_receive_limit(settings_cls)
        assert limit < 4 * 1024 * 1024, "each service's limit is its own, below grpc's default"
        plain = await code_of(address, method, request.SerializeToString())
        assert plain != grpc.StatusCode.RESOURCE_EXHAUSTED
        assert await code_of(address, method, padded(request, limit)) == plain, method
        assert await code_of(address, method, padded(request, limit + 1)) == grpc.StatusCode.RESOURCE_EXHAUSTED, method


async def test_a_response_above_the_send_limit_fails_the_call():
    limit = 64 * 1024

    async def sized(request: bytes, context) -> bytes:
        return bytes(int(request))

    handler = grpc.method_handlers_generic_handler("test.Sized", {"Call": grpc.unary_unary_rpc_method_handler(sized)})
    app = GrpcApp(service_names=["test.Sized"], error_domain="test",
                  add_servicers=lambda server: server.add_generic_rpc_handlers((handler,)),
                  security=security({"/test.Sized/Call": MethodRule(roles=frozenset({"admin"}))}),
                  max_send_message_bytes=limit)
    await app.start()
    try:
        assert await code_of(app.address, "/test.Sized/Call", str(limit).encode()) == grpc.StatusCode.OK
        assert await code_of(app.address, "/test.Sized/Call", str(limit + 1).encode()) == \
            grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await app.stop(grace=1)
