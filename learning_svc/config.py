from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from learning_svc.domain.evolution import smallest_p_value
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

    gate_calls_per_persona: int = Field(
        default=12, ge=5, le=200,
        description="Seeded calls each persona a learning run gates plays on each side, paired by seed; under 5 the "
                    "sign test could never find a dimension worse at 0.05")
    gate_alpha: float = Field(default=0.05, gt=0, lt=0.5,
                              description="Significance level at which the gate finds a dimension worse")
    gate_max_simulated_calls: int = Field(
        default=480, ge=1, le=100_000,
        description="Simulated calls one gate may play, both sides counted; a run whose gate would play more fails "
                    "before playing any")
    gate_timeout_seconds: float = Field(default=120, gt=0, le=86_400,
                                        description="Time limit of one gate; under run_timeout_seconds")

    @model_validator(mode="after")
    def _gate_can_decide_within_its_bounds(self) -> LearningSettings:
        # A gate that can never find a dimension worse, or can never play one persona, passes or fails everything.
        least = smallest_p_value(self.gate_calls_per_persona)
        if least >= self.gate_alpha:
            raise ValueError(f"gate_calls_per_persona ({self.gate_calls_per_persona}) is too few for the sign test to "
                             f"reach gate_alpha ({self.gate_alpha:g}): the least p-value of "
                             f"{self.gate_calls_per_persona} pairs is {least:g}")
        if self.gate_max_simulated_calls < 2 * self.gate_calls_per_persona:
            raise ValueError(f"gate_max_simulated_calls ({self.gate_max_simulated_calls}) must fit one persona's "
                             f"calls on both sides (2 x gate_calls_per_persona = {2 * self.gate_calls_per_persona})")
        if self.gate_timeout_seconds >= self.run_timeout_seconds:
            raise ValueError(f"gate_timeout_seconds ({self.gate_timeout_seconds:g}) must be less than "
                             f"run_timeout_seconds ({self.run_timeout_seconds:g})")
        return self

    @model_validator(mode="after")
    def _openai_time_fits_in_a_run(self) -> LearningSettings:
        # A run out of model time falls back to local and still succeeds; one out of run time fails.
        if self.openai_base_url and self.openai_seconds_per_run >= self.run_timeout_seconds:
            raise ValueError(f"openai_seconds_per_run ({self.openai_seconds_per_run:g}) must be less than "
                             f"run_timeout_seconds ({self.run_timeout_seconds:g})")
        return self
