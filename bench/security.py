"""TLS and bearer tokens in the benchmark: its own local CA, server certificate and token issuer
(``.data/bench-credentials``, made by ``devtools.credentials``), the settings its servers get, and its clients.

Every part of a run talks to the services as production does (``SECURE``): TLS, and a bearer token on every call.
The ceilings listen with the same TLS (``bench.echo_server.serve_until_terminated``) and take the token without
checking it. The ``security`` part (``bench/security_run.py``) also runs the same servers in development mode
(``PLAINTEXT``: plaintext, anonymous callers), to measure what the two cost.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from devtools.credentials import LocalCredentials, local_credentials

CREDENTIALS_DIR = Path(__file__).resolve().parent.parent / ".data" / "bench-credentials"
ORGANIZATION = "bench"
# The benchmark's one caller: it creates its sessions (interviewer), streams them as their voice gateway and
# watches them, and reads the catalogue. The catalogue itself is loaded by an admin (it has a protected persona).
CALLER_ROLES = ("interviewer", "gateway")
ADMIN_ROLES = ("admin",)
# Per-caller limits on costly calls (stream opens, RenderPrompt), far above anything a run offers: every stream
# of a run comes from that one caller, thousands at once, and the benchmark measures the service, not its limit.
# The limiter still takes from its bucket on every such call.
RATE_LIMIT = 1_000_000
SERVICE_PREFIXES = ("PERSONA", "TRANSCRIPT", "ANALYSIS", "LEARNING")


@functools.cache
def _credentials() -> LocalCredentials:
    return local_credentials(CREDENTIALS_DIR)


@functools.cache
def _token(roles: tuple[str, ...]) -> str:
    return _credentials().mint(f"bench-{'+'.join(roles)}@{ORGANIZATION}", roles, ORGANIZATION)


def rate_limits() -> dict[str, str]:
    return {f"{prefix}_RATE_LIMIT_{name}": str(RATE_LIMIT) for prefix in SERVICE_PREFIXES
            for name in ("PER_SECOND", "BURST")}


@dataclass(frozen=True)
class Mode:
    """How a run's servers listen and its clients call them. ``plaintext_tokens``: development mode (plaintext)
    whose servers still check the tokens callers send, and whose callers send them: to tell what the token costs
    from what TLS costs (``bench.instructions``)."""

    label: str
    secure: bool
    plaintext_tokens: bool = False

    @property
    def credentials(self) -> LocalCredentials:
        return _credentials()

    def environment(self) -> dict[str, str | None]:
        """A server's settings (None: the variable removed). Development mode names the callers' organization
        the one the tokens name, so both modes see the same data."""
        tls_and_tokens = self.credentials.environment()
        if self.secure:
            return {**tls_and_tokens, "SPARRING_INSECURE_DEVELOPMENT": None, **rate_limits()}
        checked = self.credentials.token_environment() if self.plaintext_tokens else {}
        return {**dict.fromkeys(tls_and_tokens), **checked, "SPARRING_INSECURE_DEVELOPMENT": "true",
                "SPARRING_DEVELOPMENT_ORGANIZATION": ORGANIZATION, **rate_limits()}

    @property
    def _marker(self) -> str:
        return "" if self.secure else "plaintext-tokens" if self.plaintext_tokens else "plaintext"

    def named(self, name: str) -> str:
        """A process's name in this mode: as it is when secure (every part of a run), marked otherwise."""
        return f"{name} ({self._marker})" if self._marker else name

    def log_name(self, stem: str) -> str:
        return f"{stem}-{self._marker}.log" if self._marker else f"{stem}.log"

    def token(self, roles: Sequence[str] = CALLER_ROLES) -> str | None:
        return _token(tuple(roles)) if self.secure or self.plaintext_tokens else None

    def channel(self, address: str, roles: Sequence[str] = CALLER_ROLES,
                options: Iterable[tuple[str, Any]] = ()) -> grpc.aio.Channel:
        """A channel to a server of this mode (TLS when secure), every call carrying a token of ``roles`` when the
        mode sends tokens."""
        token = self.token(roles)
        channel = (grpc.aio.secure_channel(address, self.credentials.channel_credentials(), options=tuple(options))
                   if self.secure else grpc.aio.insecure_channel(address, options=tuple(options)))
        return channel if token is None else BearerChannel(channel, token)

    def h2load_target(self, address: str, path: str) -> list[str]:
        """h2load's arguments for calls to ``path``: https when secure, else plaintext HTTP/2, with the token when the
        mode sends one. h2load does not verify the server's certificate (it has no option for a CA): the handshake and
        the encryption are what a benchmark needs of TLS."""
        token = self.token()
        target = f"{'https' if self.secure else 'http'}://{address}{path}"
        return [target] if token is None else [f"--header=authorization: Bearer {token}", target]


SECURE = Mode("TLS + tokens", secure=True)
PLAINTEXT = Mode("plaintext, anonymous", secure=False)
PLAINTEXT_TOKENS = Mode("plaintext + tokens", secure=False, plaintext_tokens=True)


class BearerChannel(grpc.aio.Channel):
    """A TLS channel whose calls all carry ``authorization: Bearer <token>`` as call metadata.

    grpc's own ways cost the load generator more than the server it measures: access-token call credentials
    run a Python plugin for every call (about 200 µs of CPU per unary call, measured on the 2-core machine),
    and an interceptor passes every message of a stream through a queue. Metadata given with the call costs
    one function call."""

    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        self._channel = channel
        self._metadata = (("authorization", f"Bearer {token}"),)

    def _with_token(self, method):
        def call(*args, metadata=None, **kwargs):
            return method(*args, metadata=(*self._metadata, *(metadata or ())), **kwargs)

        return call

    def unary_unary(self, *args, **kwargs):
        return self._with_token(self._channel.unary_unary(*args, **kwargs))

    def unary_stream(self, *args, **kwargs):
        return self._with_token(self._channel.unary_stream(*args, **kwargs))

    def stream_unary(self, *args, **kwargs):
        return self._with_token(self._channel.stream_unary(*args, **kwargs))

    def stream_stream(self, *args, **kwargs):
        return self._with_token(self._channel.stream_stream(*args, **kwargs))

    async def __aenter__(self) -> BearerChannel:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._channel.close()

    async def close(self, grace: float | None = None) -> None:
        await self._channel.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._channel.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._channel.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._channel.channel_ready()
