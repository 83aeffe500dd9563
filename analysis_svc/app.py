"""The analysis service process. Its contract is published; the implementation ships next."""

from __future__ import annotations

from sparring.analysis.v1 import analysis_service_pb2, analysis_service_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from analysis_svc.config import AnalysisSettings
from svckit.runtime import ServiceSpec
from svckit.server import GrpcApp
from svckit.unimplemented import unimplemented_app

SERVICE = analysis_service_pb2.DESCRIPTOR.services_by_name["AnalysisService"]


async def build(settings: AnalysisSettings, engine: AsyncEngine) -> GrpcApp:
    return unimplemented_app(
        SERVICE,
        "analysis.sparring.dev",
        analysis_service_pb2_grpc.add_AnalysisServiceServicer_to_server,
        "the analysis service ships in a later release",
    )


SPEC = ServiceSpec(
    name="analysis", package="analysis_svc", schema="analysis", settings_cls=AnalysisSettings, build=build
)
