from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from svckit.settings import ServiceSettings


class AnalysisSettings(ServiceSettings):
    """Environment: ANALYSIS_GRPC_PORT, ANALYSIS_METRICS_PORT, ANALYSIS_TRANSCRIPT_ADDRESS..."""

    model_config = SettingsConfigDict(env_prefix="ANALYSIS_", extra="ignore", populate_by_name=True)

    grpc_port: int = Field(default=50053, ge=0, le=65535)
    metrics_port: int = Field(default=9103, ge=0, le=65535)
    transcript_address: str = ""
    learning_address: str = ""
    persona_address: str = ""
