from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from svckit.settings import ServiceSettings


class LearningSettings(ServiceSettings):
    """Environment: LEARNING_GRPC_PORT, LEARNING_METRICS_PORT, LEARNING_PERSONA_ADDRESS..."""

    model_config = SettingsConfigDict(env_prefix="LEARNING_", extra="ignore", populate_by_name=True)

    grpc_port: int = Field(default=50054, ge=0, le=65535)
    metrics_port: int = Field(default=9104, ge=0, le=65535)
    persona_address: str = Field(default="127.0.0.1:50051", description="host:port of the persona service")
    persona_timeout_seconds: float = Field(default=2.0, gt=0, le=30,
                                           description="Deadline of one read from the persona service")
    evolution_schedule_seconds: float = Field(
        default=0, ge=0, description="Start an evolution run for all archetypes this often; 0: only on demand")
    learning_schedule_seconds: float = Field(
        default=0, ge=0, description="Start a learning run for all personas this often; 0: only on demand")
    run_timeout_seconds: float = Field(default=600, gt=0, le=86_400, description="Time limit of one run")
    run_lease_seconds: float = Field(default=30, gt=0, le=3600,
                                     description="A RUNNING run not renewed for this long is taken up again")
    run_poll_seconds: float = Field(default=5, gt=0, le=600,
                                    description="How often the run queue is read when no NOTIFY arrives")
    openai_base_url: str = Field(default="", description="An OpenAI-compatible endpoint; empty: no openai engine")
