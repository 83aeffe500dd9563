from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from svckit.settings import ServiceSettings


class LearningSettings(ServiceSettings):
    """Environment: LEARNING_GRPC_PORT, LEARNING_METRICS_PORT, LEARNING_PERSONA_ADDRESS..."""

    model_config = SettingsConfigDict(env_prefix="LEARNING_", extra="ignore", populate_by_name=True)

    grpc_port: int = Field(default=50054, ge=0, le=65535)
    metrics_port: int = Field(default=9104, ge=0, le=65535)
    persona_address: str = ""
