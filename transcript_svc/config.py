from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from svckit.settings import ServiceSettings


class TranscriptSettings(ServiceSettings):
    """Environment: TRANSCRIPT_GRPC_PORT, TRANSCRIPT_METRICS_PORT, TRANSCRIPT_ANALYSIS_ADDRESS..."""

    model_config = SettingsConfigDict(env_prefix="TRANSCRIPT_", extra="ignore", populate_by_name=True)

    grpc_port: int = Field(default=50052, ge=0, le=65535)
    metrics_port: int = Field(default=9102, ge=0, le=65535)
    rate_limit_per_second: float = Field(default=100.0, gt=0,
                                         description="Per caller: stream opens (a gateway opens one per call)")
    rate_limit_burst: int = Field(default=1000, ge=1, description="Calls a caller may make at once before the rate "
                                                                     "applies")
    # A stream frame holds one utterance, at most 4,000 characters (16 KB of UTF-8); a command is smaller.
    max_receive_message_bytes: int = Field(default=64 * 1024, gt=0,
                                           description="Largest request accepted; RESOURCE_EXHAUSTED above")
    analysis_address: str = ""
    persona_address: str = Field(default="127.0.0.1:50051",
                                 description="host:port of the persona service, which CreateSession asks")
    persona_timeout_seconds: float = Field(default=2.0, gt=0, le=30,
                                           description="Deadline of one read from the persona service")
    learning_address: str = Field(default="", description="host:port of the learning service, which CreateSession "
                                                           "asks for the variant of its persona's running experiment; "
                                                           "unset: sessions get none")
    experiment_timeout_seconds: float = Field(
        default=0.5, gt=0, le=10,
        description="Most time CreateSession waits for its experiment variant before creating it on the control")
    analysis_interval: int = Field(default=10, ge=1, description="Request an analysis every N durable messages")
    max_open_streams: int = Field(default=5000, ge=1, le=100_000,
                                  description="Streams one replica holds at once; more opens are refused with "
                                              "RESOURCE_EXHAUSTED and a RetryInfo (memory and database are finite)")
    max_in_flight: int = Field(default=256, ge=1, le=10_000,
                               description="Unacked utterances a stream may have before the server stops reading")
    stream_wind_down_seconds: float = Field(
        default=0.5, ge=0, le=10,
        description="Most time a stream the server ends reads on, so the gateway's writes do not race its status")
    commit_max_batch: int = Field(default=500, ge=1, le=10_000, description="Most utterances in one group commit")
    commit_max_delay_ms: float = Field(default=2.0, ge=0, le=100,
                                       description="How long a group commit waits for more after the first")
    analysis_timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="Deadline of one analysis call")
    outbox_max_attempts: int = Field(default=20, ge=1, le=1000,
                                     description="Attempts before an analysis request is marked failed")
    outbox_concurrency: int = Field(
        default=32, ge=1, le=1000,
        description="Outbox deliveries (analysis requests, audits...) calling out at once; as many again wait leased")
    voice_agent_timeout_seconds: float = Field(
        default=15.0, gt=0, le=120,
        description="Deadline of asking the persona service for a voice agent (a provider's creation included)")
    pii_secret: str = Field(default="sparring-pii", min_length=1,
                            description="Key of the hashes and pseudonyms that stand for personal data in "
                                        "transcripts; set a secret of your own in production")
    safety_policy_timeout_seconds: float = Field(
        default=0.25, gt=0, le=5,
        description="How long a stream opening waits for its persona's safety policy before the safe default")
    safety_policy_cache_seconds: float = Field(
        default=5.0, ge=0, le=300,
        description="How old a persona's safety policy may be before it is read again, in the background")
    safety_policy_cache_entries: int = Field(default=10_000, ge=1, le=1_000_000,
                                             description="Personas whose safety policies are kept at once")
    approval_ttl_seconds: float = Field(
        default=120.0, gt=0, le=86_400,
        description="How long a held command's approval waits for a decision, at first and at each step of "
                    "its escalation path, before it moves on (or, past the last step, expires)")
    approval_sweep_seconds: float = Field(default=1.0, gt=0, le=60,
                                          description="How often approvals past their expiry are escalated or expired")
    approval_sweep_batch: int = Field(default=200, ge=1, le=10_000,
                                      description="Most approvals one sweep expires; the rest wait for the next")
    approval_sweep_timeout_seconds: float = Field(default=5.0, gt=0, le=60,
                                                  description="Deadline of one sweep of expired approvals")
    max_approval_watchers: int = Field(default=5000, ge=1, le=100_000,
                                       description="Approval watch streams one replica holds at once; more are "
                                                   "refused with RESOURCE_EXHAUSTED")
