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

    # Security: TLS and bearer tokens, unless the explicit development mode turns both off.
    insecure_development: bool = _shared(
        "SPARRING_INSECURE_DEVELOPMENT", False,
        description="Plaintext and anonymous callers (acting as admins of the development organization); "
                    "development only, warned about at every start")
    tls_cert_file: str = _shared("TLS_CERT_FILE", "", description="The server's certificate chain (PEM); also the "
                                 "client certificate shown to other services under mTLS")
    tls_key_file: str = _shared("TLS_KEY_FILE", "", description="Its private key (PEM)")
    tls_ca_file: str = _shared("TLS_CA_FILE", "", description="CA bundle verifying the other services' certificates, "
                               "and client certificates under mTLS")
    tls_client_auth: str = _shared("TLS_CLIENT_AUTH", "none", pattern="^(none|require)$",
                                   description="require: mTLS, every client shows a certificate of TLS_CA_FILE")
    tls_server_name: str = _shared("TLS_SERVER_NAME", "", description="Name checked in the other services' "
                                   "certificates, when not the host of their address")
    auth_jwks: str = _shared("AUTH_JWKS", "", description="The token issuer's keys: a JWKS file, or an https URL")
    auth_issuer: str = _shared("AUTH_ISSUER", "", description="Required `iss` of every token")
    auth_audience: str = _shared("AUTH_AUDIENCE", "", description="Required `aud` of every token")
    auth_clock_skew_seconds: float = _shared("AUTH_CLOCK_SKEW_SECONDS", 30.0, ge=0, le=300)
    auth_jwks_cache_seconds: float = _shared("AUTH_JWKS_CACHE_SECONDS", 300.0, gt=0)
    auth_jwks_refetch_seconds: float = _shared(
        "AUTH_JWKS_REFETCH_SECONDS", 10.0, gt=0,
        description="A JWKS URL is fetched again at once for a token naming a key it lacks, at most this often")
    auth_reflection: str = _shared("AUTH_REFLECTION", "public", pattern="^(public|authenticated|off)$",
                                   description="Server reflection open to all, to callers with a token, or not served")
    development_organization: str = _shared("SPARRING_DEVELOPMENT_ORGANIZATION", "development",
                                            description="The organization of anonymous callers in development mode")
    audit_log_retention_days: int = _shared("AUDIT_LOG_RETENTION_DAYS", 90, ge=1,
                                            description="Audit log entries older than this are deleted (hourly)")
    service_token_file: str = Field(default="", description="This service's own token, for its calls to the others; "
                                    "read again when the file changes")
    rate_limit_per_second: float = Field(default=5.0, gt=0, description="Per caller, on this service's costly calls")
    rate_limit_burst: int = Field(default=20, ge=1,
                                  description="Calls a caller may make at once before the rate applies")
    health_port: int | None = Field(default=None, ge=0, le=65535,
                                    description="A plaintext port serving health only (probes that cannot do TLS)")

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
