from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from svckit.settings import EngineSettings


class AnalysisSettings(EngineSettings):
    """Environment: ANALYSIS_GRPC_PORT, ANALYSIS_METRICS_PORT, ANALYSIS_TRANSCRIPT_ADDRESS..."""

    model_config = SettingsConfigDict(env_prefix="ANALYSIS_", extra="ignore", populate_by_name=True)

    grpc_port: int = Field(default=50053, ge=0, le=65535)
    metrics_port: int = Field(default=9103, ge=0, le=65535)
    rate_limit_per_second: float = Field(default=10.0, gt=0, description="Per caller: RequestAnalysis")
    rate_limit_burst: int = Field(default=50, ge=1, description="Calls a caller may make at once before the rate "
                                                                     "applies")
    # Requests name sessions and suggestions, with reasons of at most 500 characters: a few KB at most.
    max_receive_message_bytes: int = Field(default=64 * 1024, gt=0,
                                           description="Largest request accepted; RESOURCE_EXHAUSTED above")
    transcript_address: str = Field(default="127.0.0.1:50052", description="host:port of the transcript service")
    learning_address: str = ""
    persona_address: str = Field(default="127.0.0.1:50051", description="host:port of the persona service")
    transcript_timeout_seconds: float = Field(default=2.0, gt=0, le=30,
                                              description="Deadline of one read from the transcript service")
    moderation: bool = Field(default=False, description="Whether the openai engine (when configured) also screens "
                                                        "candidates' messages for the personas' input filters")
    session_cache_size: int = Field(default=100_000, ge=1,
                                    description="Sessions whose interviewer, persona objections and scenario are kept "
                                                "in memory (least recently used go)")
