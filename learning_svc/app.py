"""The learning service process. Its contract is published; the implementation ships next."""

from __future__ import annotations

from sparring.learning.v1 import learning_service_pb2, learning_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from learning_svc.config import LearningSettings
from svckit.runtime import ServiceSpec
from svckit.server import GrpcApp
from svckit.unimplemented import unimplemented_app

SERVICE = learning_service_pb2.DESCRIPTOR.services_by_name["LearningService"]


async def build(settings: LearningSettings, engine: AsyncEngine) -> GrpcApp:
    return unimplemented_app(
        SERVICE,
        "learning.sparring.dev",
        learning_service_pb2_grpc.add_LearningServiceServicer_to_server,
        "the learning service ships in a later release",
    )


SPEC = ServiceSpec(
    name="learning", package="learning_svc", schema="learning", settings_cls=LearningSettings, build=build
)
