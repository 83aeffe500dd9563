"""TLS and identity as a service's settings describe them: the credentials its server listens with, the guard
that admits its calls, and the channels and token of its own calls to the other services.

Without TLS and a token issuer the services do not start, unless development mode is asked for explicitly
(``SPARRING_INSECURE_DEVELOPMENT``): then they listen in plaintext, take anonymous calls as admins of the
development organization, and say so at every start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc

from svckit.context import AUTHORIZATION_METADATA_KEY, ORGANIZATION_METADATA_KEY, current_call
from svckit.files import FileVersion, file_version
from svckit.guard import CallGuard, MethodRule
from svckit.identity import Principal, TokenVerifier, key_set
from svckit.ratelimit import RateLimiter
from svckit.settings import ServiceSettings

log = logging.getLogger("svckit.transport")

SERVICE_CHANNEL_OPTIONS = (
    # Calls between services spread over every replica of the callee: the address resolves through DNS (a
    # headless Kubernetes Service lists each pod), and the channel balances round robin over all of them. With
    # one long-lived HTTP/2 connection and the default pick-first policy, every call would go to the same pod.
    ("grpc.lb_policy_name", "round_robin"),
    # A callee that scaled up is found without waiting for a connection to fail: DNS is asked again this often.
    ("grpc.dns_min_time_between_resolutions_ms", 30_000),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
)


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


class _CertificateFiles:
    """The server's certificate, key and client CA, read again when one of the files changes, so a rotated
    certificate (a renewed Kubernetes secret) serves new connections without a restart."""

    def __init__(self, cert_file: str, key_file: str, client_ca_file: str | None) -> None:
        self._files = tuple(f for f in (cert_file, key_file, client_ca_file) if f)
        self._cert, self._key, self._client_ca = cert_file, key_file, client_ca_file
        self._stamps = self._stat()
        self.initial = self._configuration()

    def _stat(self) -> tuple[FileVersion, ...]:
        return tuple(file_version(f) for f in self._files)

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(_read(self._key), _read(self._cert))],
            root_certificates=_read(self._client_ca) if self._client_ca else None)

    def changed(self) -> grpc.ServerCertificateConfiguration | None:
        """What grpc asks before a handshake: a new configuration if the files changed, None to keep the last."""
        try:
            stamps = self._stat()
            if stamps == self._stamps:
                return None
            configuration = self._configuration()
        except (OSError, ValueError) as error:  # a rotation half written: keep serving the last good one
            log.warning("TLS files could not be read again, keeping the current certificate: %s", error)
            return None
        self._stamps = stamps
        log.info("TLS certificate reloaded from %s", self._cert)
        return configuration


class ServiceToken:
    """This service's own bearer token, from a file read again when it changes (checked every few seconds).

    A file that cannot be read at start stops the start (a wrong path would otherwise fail every call to the other
    services); one that cannot be read later (a secret between two versions) leaves the last token in use."""

    def __init__(self, path: str, check_seconds: float = 5.0) -> None:
        self._path = path
        self._check_seconds = check_seconds
        self._checked = time.monotonic()
        try:
            self._stamp = file_version(path)
            self._header = self._read()
        except OSError as error:
            raise SystemExit(f"this service's own token cannot be read from {path}: {error}") from error

    def _read(self) -> str:
        return "Bearer " + Path(self._path).read_text(encoding="utf-8").strip()

    def header(self) -> str:
        now = time.monotonic()
        if now - self._checked >= self._check_seconds:
            self._checked = now
            try:
                stamp = file_version(self._path)
                if stamp != self._stamp:
                    self._header, self._stamp = self._read(), stamp
            except OSError as error:
                log.warning("this service's token file cannot be read again, the last token stays in use: %s", error)
        return self._header


class Security:
    """A service's TLS and identity, made from its settings (see the module docstring)."""

    def __init__(self, settings: ServiceSettings, rules: Mapping[str, MethodRule]) -> None:
        self.insecure = settings.insecure_development
        missing = [name for name, value in (("TLS_CERT_FILE", settings.tls_cert_file),
                                            ("TLS_KEY_FILE", settings.tls_key_file),
                                            ("AUTH_JWKS", settings.auth_jwks), ("AUTH_ISSUER", settings.auth_issuer),
                                            ("AUTH_AUDIENCE", settings.auth_audience)) if not value]
        if missing and not self.insecure:
            raise SystemExit(f"TLS and tokens are required: set {', '.join(missing)} (`make run` makes a local set "
                             "under .data/credentials), or SPARRING_INSECURE_DEVELOPMENT=true for plaintext and "
                             "anonymous calls in development")
        if self.insecure:
            log.warning("DEVELOPMENT MODE: plaintext, and calls without a token act as admins of organization %r. "
                        "Never run this way outside a developer's machine.", settings.development_organization)
        verifier = TokenVerifier(key_set(settings.auth_jwks, settings.auth_jwks_cache_seconds,
                                         settings.auth_jwks_refetch_seconds),
                                 settings.auth_issuer, settings.auth_audience, settings.auth_clock_skew_seconds) \
            if settings.auth_jwks else None
        anonymous = Principal("anonymous", settings.development_organization, frozenset({"admin"})) \
            if self.insecure else None
        self.guard = CallGuard(rules, verifier, anonymous,
                               RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
                               settings.auth_reflection)
        self.server_credentials: grpc.ServerCredentials | None = None
        self._channel_credentials: grpc.ChannelCredentials | None = None
        if settings.tls_cert_file and settings.tls_key_file and not self.insecure:
            mutual = settings.tls_client_auth == "require"
            if mutual and not settings.tls_ca_file:
                raise SystemExit("TLS_CLIENT_AUTH=require needs TLS_CA_FILE, the CA of the client certificates")
            files = _CertificateFiles(settings.tls_cert_file, settings.tls_key_file,
                                      settings.tls_ca_file if mutual else None)
            self.server_credentials = grpc.dynamic_ssl_server_credentials(files.initial, files.changed, mutual)
            self._channel_credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(settings.tls_ca_file) if settings.tls_ca_file else None,
                private_key=_read(settings.tls_key_file) if mutual else None,
                certificate_chain=_read(settings.tls_cert_file) if mutual else None)
        self._server_name = settings.tls_server_name
        self.token = ServiceToken(settings.service_token_file) if settings.service_token_file else None

    def link(self, address: str) -> ServiceLink:
        """A channel to another service, with this service's identity."""
        if self.token is None and not self.insecure:
            raise SystemExit(f"calls to {address} need this service's own token: set <SERVICE>_SERVICE_TOKEN_FILE")
        options: tuple[tuple[str, Any], ...] = SERVICE_CHANNEL_OPTIONS
        if self._channel_credentials is None:
            channel = grpc.aio.insecure_channel(address, options=options)
        else:
            if self._server_name:
                options = (*options, ("grpc.ssl_target_name_override", self._server_name))
            channel = grpc.aio.secure_channel(address, self._channel_credentials, options=options)
        return ServiceLink(channel, self.token)


class ServiceLink:
    """A channel to another service and what each call on it carries: this service's token, and the
    organization it acts for (by default the organization of the call being served)."""

    def __init__(self, channel: grpc.aio.Channel, token: ServiceToken | None) -> None:
        self.channel = channel
        self._token = token

    def metadata(self, organization: str | None = None) -> tuple[tuple[str, str], ...]:
        acting_for = current_call().organization if organization is None else organization
        if self._token is None:
            return ((ORGANIZATION_METADATA_KEY, acting_for),)
        return (AUTHORIZATION_METADATA_KEY, self._token.header()), (ORGANIZATION_METADATA_KEY, acting_for)

    def options(self, timeout: float, organization: str | None = None) -> dict[str, Any]:
        """The keyword arguments of a call on this link: its deadline and its metadata."""
        return {"timeout": timeout, "metadata": self.metadata(organization)}

    async def close(self) -> None:
        await self.channel.close()
