from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from svckit.settings import EngineSettings


class PersonaSettings(EngineSettings):
    """Environment: PERSONA_GRPC_PORT, PERSONA_METRICS_PORT, PERSONA_LEARNING_ADDRESS...; PERSONA_ENGINE and
    PERSONA_OPENAI_*: the engine that finds an ended call's facts."""

    model_config = SettingsConfigDict(env_prefix="PERSONA_", extra="ignore", populate_by_name=True)

    grpc_port: int = Field(default=50051, ge=0, le=65535)
    metrics_port: int = Field(default=9101, ge=0, le=65535)
    rate_limit_per_second: float = Field(default=20.0, gt=0, description="Per caller: RenderPrompt")
    rate_limit_burst: int = Field(default=100, ge=1, description="Calls a caller may make at once before the rate "
                                                                     "applies")
    # A persona with its five long texts (templates, description...) at the 20,000-character cap is about 300 KB
    # in a three-byte script; the catalogue's personas are under 5 KB.
    max_receive_message_bytes: int = Field(default=1024 * 1024, gt=0,
                                           description="Largest request accepted; RESOURCE_EXHAUSTED above")
    learning_address: str = Field(default="", description="host:port of the learning service; empty: no patches")
    patches_timeout_seconds: float = Field(default=0.25, gt=0, le=5,
                                           description="How long rendering waits for patches before going without")
    cache_entries: int = Field(default=10_000, ge=0)
    memory_retention_interval_seconds: float = Field(default=3600.0, gt=0,
                                                     description="How often memory past its retention is deleted")
    memory_retention_batch: int = Field(default=1000, ge=1, le=100_000,
                                        description="Rows of memory deleted by one statement")
    transcript_address: str = Field(default="", description="host:port of the transcript service, told to forget "
                                                            "an erased candidate and asked by voice-agent clean-up "
                                                            "whether sessions have ended; empty: sessions keep the "
                                                            "link, and voice agents are not cleaned up")
    transcript_timeout_seconds: float = Field(default=2.0, gt=0, le=30,
                                              description="Deadline of one call to the transcript service")
    memory_timeout_seconds: float = Field(default=0.05, gt=0, le=5,
                                          description="How long rendering waits for memory before going without")
    memory_budget_chars: int = Field(default=2_000, ge=0, le=20_000,
                                     description="Largest memory section a rendered prompt takes")
    embeddings_base_url: str = Field(default="", description="An OpenAI-compatible /v1/embeddings endpoint for "
                                                             "episode recall; empty: recall by words only")
    embeddings_api_key: str = Field(default="", description="Its key, if it wants one")
    embeddings_model: str = "text-embedding-3-small"
    embeddings_timeout_seconds: float = Field(default=1.0, gt=0, le=30, description="Per try of an embedding")
    embeddings_max_retries: int = Field(default=1, ge=0, le=5, description="Retries of a failed embedding")
    embeddings_backfill_interval_seconds: float = Field(
        default=600.0, ge=0, description="With an embeddings endpoint, how long the embedding of episodes stored "
                                         "without one idles once none is left (an episode stored sooner wakes it), "
                                         "and its longest back-off; 0: they stay without one")
    embeddings_backfill_batch: int = Field(default=50, ge=1, le=1000,
                                           description="Episodes without an embedding read at once")
    voice_provider: str = Field(default="local", description="Voice provider of rounds that name none")
    elevenlabs_api_key: str = Field(default="", description="ElevenLabs API key; empty: rounds on elevenlabs are "
                                                            "refused with FAILED_PRECONDITION")
    elevenlabs_base_url: str = Field(default="https://api.elevenlabs.io", description="ElevenLabs API address")
    voice_provider_timeout_seconds: float = Field(default=4.0, gt=0, le=60, description="Per try of a provider request")
    voice_provider_max_retries: int = Field(default=4, ge=0, le=10, description="Tries after the first")
    voice_provider_budget_seconds: float = Field(
        default=10.0, gt=0, le=60, description="Most time one provider operation takes, its tries and waits included")
    voice_agent_cleanup_interval_seconds: float = Field(default=60.0, ge=0, description="Between two clean-up "
                                                                                      "sweeps; 0: none")
    voice_agent_cleanup_timeout_seconds: float = Field(default=120.0, gt=0, description="Most time one sweep takes")
    voice_agent_grace_seconds: float = Field(default=600.0, ge=0, description="How long an agent no session uses is "
                                                                           "kept before it is deleted")
    voice_agent_deletion_retention_seconds: float = Field(
        default=7 * 86400, ge=0, description="How long clean-up keeps the record of an agent's finished deletion")
    retell_api_key: str = Field(default="", description="Retell API key; empty: rounds on retell are refused with "
                                                        "FAILED_PRECONDITION")
    retell_base_url: str = Field(default="https://api.retellai.com", description="Retell API address")
