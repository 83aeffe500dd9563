from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from svckit.settings import EngineSettings


class LearningSettings(EngineSettings):
    """Environment: LEARNING_GRPC_PORT, LEARNING_METRICS_PORT, LEARNING_PERSONA_ADDRESS..."""

    model_config = SettingsConfigDict(env_prefix="LEARNING_", extra="ignore", populate_by_name=True)

    grpc_port: int = Field(default=50054, ge=0, le=65535)
    metrics_port: int = Field(default=9104, ge=0, le=65535)
    rate_limit_per_second: float = Field(default=1.0, gt=0, description="Per caller: run starts")
    rate_limit_burst: int = Field(default=20, ge=1, description="Calls a caller may make at once before the rate "
                                                                     "applies")
    # The largest request, an audit with 20 flagged quotes of 500 characters and 10 recommendations of 1,000, is
    # about 60 KB in a three-byte script.
    max_receive_message_bytes: int = Field(default=256 * 1024, gt=0,
                                           description="Largest request accepted; RESOURCE_EXHAUSTED above")
    persona_address: str = Field(default="127.0.0.1:50051", description="host:port of the persona service")
    persona_timeout_seconds: float = Field(default=2.0, gt=0, le=30,
                                           description="Deadline of one read from the persona service")
    evolution_schedule_seconds: float = Field(
        default=0, ge=0, description="Start an evolution run for all archetypes this often, in each organization with "
                                     "audits recorded since its last evolution run; 0: only on demand")
    learning_schedule_seconds: float = Field(
        default=0, ge=0, description="Start a learning run for all personas this often, in each organization with "
                                     "training events not yet processed; 0: only on demand")
    run_timeout_seconds: float = Field(default=600, gt=0, le=86_400, description="Time limit of one run")
    run_lease_seconds: float = Field(default=30, gt=0, le=3600,
                                     description="A RUNNING run not renewed for this long is taken up again")
    run_poll_seconds: float = Field(default=5, gt=0, le=600,
                                    description="How often the run queue is read when no NOTIFY arrives")
    # A refinements answer is long: more time per call than a live analysis gets.
    openai_timeout_seconds: float = Field(default=20.0, gt=0, le=60, description="Time limit of one model call")
    openai_max_calls_per_run: int = Field(
        default=200, ge=1, le=10_000,
        description="Model calls one evolution run may make (a refinements request is one, each simulated persona "
                    "turn one); a step that would go over uses the local engine")
    openai_seconds_per_run: float = Field(
        default=240, gt=0, le=86_400,
        description="Seconds one evolution run may spend waiting for the model; under run_timeout_seconds")

    @model_validator(mode="after")
    def _openai_time_fits_in_a_run(self) -> LearningSettings:
        # A run out of model time falls back to local and still succeeds; one out of run time fails.
        if self.openai_base_url and self.openai_seconds_per_run >= self.run_timeout_seconds:
            raise ValueError(f"openai_seconds_per_run ({self.openai_seconds_per_run:g}) must be less than "
                             f"run_timeout_seconds ({self.run_timeout_seconds:g})")
        return self
