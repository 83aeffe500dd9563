"""Settings read from the environment.

Each service subclasses ``ServiceSettings`` with its own env prefix (``PERSONA_GRPC_PORT``...);
the fields shared by all services (``DATABASE_URL``, ``LOG_LEVEL``...) are read without a prefix.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # grpc's own default receive limit, on clients and servers


def _shared(env_name: str, default, **constraints):
    """A field read from one unprefixed variable, whatever the service's prefix."""
    return Field(default=default, validation_alias=AliasChoices(env_name, env_name.lower()), **constraints)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str | None = _shared("DATABASE_URL", None)
    log_level: str = _shared("LOG_LEVEL", "INFO")
    log_json: bool = _shared("LOG_JSON", True)
    page_token_secret: str = _shared("PAGE_TOKEN_SECRET", "sparring-page-tokens")

    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=0, ge=0, le=65535)
    metrics_port: int = Field(default=0, ge=0, le=65535)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_statement_timeout_ms: int = Field(default=5000, ge=100)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0,
                                          description="After the drain, how long calls in flight have to finish")
    drain_seconds: float = Field(default=5.0, ge=0, description="After SIGTERM, how long health says NOT_SERVING "
                                                                "while calls are still served")
    # Each service sets its receive limit from its largest legitimate request.
    max_receive_message_bytes: int = Field(default=DEFAULT_MAX_MESSAGE_BYTES, gt=0,
                                           description="Largest request accepted; RESOURCE_EXHAUSTED above")
    max_send_message_bytes: int = Field(
        default=DEFAULT_MAX_MESSAGE_BYTES, gt=0,
        description="Largest response sent; RESOURCE_EXHAUSTED above. 4 MiB is what a gRPC client accepts by default")


class EngineSettings(ServiceSettings):
    """A service with the two engines: `local`, and `openai` against any OpenAI-compatible endpoint."""

    engine: str = Field(default="local", pattern="^(local|openai)$",
                        description="Engine used when a request names none: local or openai")
    openai_base_url: str = Field(default="", description="An OpenAI-compatible endpoint; empty: no openai engine")
    openai_api_key: str = Field(default="", description="Its key, if it wants one")
    openai_model: str = "gpt-4o"
    openai_timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="Time limit of one model call")
    openai_max_retries: int = Field(default=2, ge=0, le=5, description="Retries of a failed model call")
