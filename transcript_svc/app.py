"""The transcript service process. Its contract is published; the implementation ships next."""

from __future__ import annotations

from sparring.transcript.v1 import transcript_service_pb2, transcript_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from svckit.runtime import ServiceSpec
from svckit.server import GrpcApp
from svckit.unimplemented import unimplemented_app
from transcript_svc.config import TranscriptSettings

SERVICE = transcript_service_pb2.DESCRIPTOR.services_by_name["TranscriptService"]


async def build(settings: TranscriptSettings, engine: AsyncEngine) -> GrpcApp:
    return unimplemented_app(
        SERVICE,
        "transcript.sparring.dev",
        transcript_service_pb2_grpc.add_TranscriptServiceServicer_to_server,
        "the transcript service ships in a later release",
    )


SPEC = ServiceSpec(
    name="transcript", package="transcript_svc", schema="transcript", settings_cls=TranscriptSettings, build=build
)
