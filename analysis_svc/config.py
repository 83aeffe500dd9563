from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from svckit.settings import ServiceSettings


class AnalysisSettings(ServiceSettings):
    """Environment: ANALYSIS_GRPC_PORT, ANALYSIS_METRICS_PORT, ANALYSIS_TRANSCRIPT_ADDRESS..."""

    model_config = SettingsConfigDict(env_prefix="ANALYSIS_", extra="ignore", populate_by_name=True)

    grpc_port: int = Field(default=50053, ge=0, le=65535)
    metrics_port: int = Field(default=9103, ge=0, le=65535)
    transcript_address: str = Field(default="127.0.0.1:50052", description="host:port of the transcript service")
    learning_address: str = ""
    persona_address: str = Field(default="127.0.0.1:50051", description="host:port of the persona service")
    transcript_timeout_seconds: float = Field(default=2.0, gt=0, le=30,
                                              description="Deadline of one read from the transcript service")
    engine: str = Field(default="local", pattern="^(local|openai)$",
                        description="Engine used when a request names none: local or openai")
    openai_base_url: str = Field(default="", description="An OpenAI-compatible endpoint; empty: no openai engine")
    openai_api_key: str = Field(default="", description="Its key, if it wants one")
    openai_model: str = "gpt-4o"
    openai_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    openai_max_retries: int = Field(default=2, ge=0, le=5)
