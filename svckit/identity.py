"""Who is calling: bearer tokens (JWT) verified against a JWKS, and the principal they stand for.

A token is verified once (signature, issuer, audience, expiry, not-before, with a small clock skew) and then
kept, with the principal it proves, until it expires: a client sends the same token on every call, so the
check costs a dictionary lookup per call. Only asymmetric algorithms are accepted, from the key's own
``alg``: ``alg: none`` and an HS256 token "signed" with the public key are refused before any key is used.

Keys come from a JWKS file (read again when it changes) or an issuer's URL (fetched again after a while, and
at once, at most every few seconds, when a token names a key not yet seen: the issuer rotated its keys). A key
the issuer stops publishing (withdrawn, say, because it leaked) also ends the tokens kept as verified with it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from prometheus_client import Counter, Gauge

from svckit.errors import Unauthenticated
from svckit.files import FileVersion, file_version

log = logging.getLogger("svckit.identity")

ADMIN_ROLE = "admin"
SERVICE_ROLE = "service"
# Algorithms whose keys cannot be confused with a shared secret. A key's own ``alg`` narrows it further.
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")

TOKEN_VERIFICATIONS = Counter("sparring_auth_token_verifications_total",
                              "Bearer tokens checked in full (not found among the verified ones), by result.",
                              ("result",))
VERIFIED_TOKENS = Gauge("sparring_auth_verified_tokens", "Verified tokens kept until they expire.")
KEY_SET_FETCHES = Counter("sparring_auth_key_set_fetches_total", "Reads of the JWKS (file or URL), by result.",
                          ("result",))
WITHDRAWN_KEY_TOKENS = Counter("sparring_auth_withdrawn_key_tokens_total",
                               "Verified tokens forgotten because the issuer no longer publishes their key.")
# How often the hot path looks at a JWKS file for a change: a stat per call would cost more than the lookup.
_FILE_CHECK_SECONDS = 1.0
# How often a JWKS URL may be fetched again at once for tokens naming keys it lacks (AUTH_JWKS_REFETCH_SECONDS).
DEFAULT_REFETCH_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller: its subject, the organization it belongs to (for a service, the one it acts for in
    this call) and its roles."""

    subject: str
    organization: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    @property
    def is_service(self) -> bool:
        return SERVICE_ROLE in self.roles

    def has_any(self, roles: frozenset[str]) -> bool:
        return not self.roles.isdisjoint(roles)

    def acting_for(self, organization: str) -> Principal:
        return Principal(self.subject, organization, self.roles)


class KeySet(Protocol):
    async def key(self, kid: str | None) -> jwt.PyJWK: ...

    def revision(self) -> int:
        """A number that changes whenever the published keys may have changed; cheap enough for every call."""
        ...

    def publishes(self, kid: str | None) -> bool: ...


def _unknown_key(kid: str | None) -> Unauthenticated:
    return Unauthenticated(f"the token is signed with a key the issuer does not publish (kid {kid!r})",
                           reason="TOKEN_UNKNOWN_KEY")


def _pick(keys: jwt.PyJWKSet, kid: str | None) -> jwt.PyJWK | None:
    for key in keys.keys:
        if kid is None or key.key_id == kid:
            return key
    return None


class JwksFile:
    """Keys from a JWKS file, read again when it changes (a rotated secret or ConfigMap).

    A file that cannot be read at start stops the start; one that cannot be read later (a rotation half written,
    a file moved away for a moment) leaves the keys read before in use, so callers are not refused for it."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._stamp = self._stat()
        self._keys = self._load()
        self._revision = 0
        self._checked_at = time.monotonic()

    def _stat(self) -> FileVersion | None:
        try:
            return file_version(self._path)
        except OSError:
            return None

    def _load(self) -> jwt.PyJWKSet:
        try:
            with open(self._path, encoding="utf-8") as file:
                keys = jwt.PyJWKSet.from_dict(json.load(file))
        except (OSError, ValueError, jwt.PyJWKSetError) as error:
            KEY_SET_FETCHES.labels("error").inc()
            raise RuntimeError(f"the JWKS file {self._path} cannot be read: {error}") from error
        KEY_SET_FETCHES.labels("ok").inc()
        return keys

    def _reload_if_changed(self) -> None:
        stamp = self._stat()
        if stamp == self._stamp:
            return
        self._stamp = stamp  # a broken file is read once, not at every call, until it changes again
        try:
            self._keys = self._load()
        except RuntimeError as error:
            log.warning("%s; the keys read before stay in use", error)
            return
        self._revision += 1

    def revision(self) -> int:
        now = time.monotonic()
        if now - self._checked_at >= _FILE_CHECK_SECONDS:
            self._checked_at = now
            self._reload_if_changed()
        return self._revision

    def publishes(self, kid: str | None) -> bool:
        return _pick(self._keys, kid) is not None

    async def key(self, kid: str | None) -> jwt.PyJWK:
        self._reload_if_changed()
        key = _pick(self._keys, kid)
        if key is None:
            raise _unknown_key(kid)
        return key


class JwksUrl:
    """Keys from an issuer's JWKS URL: kept for ``cache_seconds``, and fetched again at once (at most every
    ``refetch_seconds``, so tokens naming made-up keys cannot flood the issuer) when a token names a key not
    in the set."""

    def __init__(self, url: str, cache_seconds: float, refetch_seconds: float = DEFAULT_REFETCH_SECONDS,
                 timeout_seconds: float = 5.0) -> None:
        self._url = url
        self._cache_seconds = cache_seconds
        self._refetch_seconds = refetch_seconds
        self._timeout = timeout_seconds
        self._keys: jwt.PyJWKSet | None = None
        self._fetched_at = float("-inf")
        self._fetching: asyncio.Future[None] | None = None
        self._revision = 0

    def _fetch_now(self) -> jwt.PyJWKSet:
        with urllib.request.urlopen(self._url, timeout=self._timeout) as answer:
            return jwt.PyJWKSet.from_dict(json.loads(answer.read()))

    async def _fetch(self) -> None:
        try:
            self._keys = await asyncio.to_thread(self._fetch_now)
            self._revision += 1
            KEY_SET_FETCHES.labels("ok").inc()
        except Exception as error:
            KEY_SET_FETCHES.labels("error").inc()
            log.warning("JWKS %s could not be fetched: %s", self._url, error)
        finally:
            self._fetched_at = time.monotonic()
            self._fetching = None

    def _start_fetch(self) -> asyncio.Future[None]:
        if self._fetching is None:
            self._fetching = asyncio.ensure_future(self._fetch())
        return self._fetching

    async def _refresh(self) -> None:
        # Concurrent callers wait for one fetch, shielded: a caller that gives up (its deadline passed) must not
        # cancel the fetch the others wait for.
        await asyncio.shield(self._start_fetch())
        if self._keys is None:
            raise Unauthenticated("the token issuer's keys cannot be fetched; retry later", reason="KEYS_UNAVAILABLE")

    async def key(self, kid: str | None) -> jwt.PyJWK:
        if self._keys is None or time.monotonic() - self._fetched_at > self._cache_seconds:
            await self._refresh()
        assert self._keys is not None
        key = _pick(self._keys, kid)
        # Measured after any refresh above: a set fetched just now is not fetched again for the same unknown kid.
        if key is None and time.monotonic() - self._fetched_at > self._refetch_seconds:
            await self._refresh()
            key = _pick(self._keys, kid)
        if key is None:
            raise _unknown_key(kid)
        return key

    def revision(self) -> int:
        # Tokens already verified need no key, so nothing else would fetch a stale set: fetch it in the
        # background, and the tokens of a key it no longer has end when it lands.
        if self._keys is not None and time.monotonic() - self._fetched_at > self._cache_seconds:
            self._start_fetch()
        return self._revision

    def publishes(self, kid: str | None) -> bool:
        return self._keys is not None and _pick(self._keys, kid) is not None


def key_set(source: str, cache_seconds: float, refetch_seconds: float = DEFAULT_REFETCH_SECONDS) -> KeySet:
    """The JWKS at ``source``: an http(s) URL, else a file path."""
    if source.startswith(("https://", "http://")):
        return JwksUrl(source, cache_seconds, refetch_seconds)
    return JwksFile(source)


# PyJWT's refusals, most specific first, as what the caller is told.
_REFUSALS: tuple[tuple[type[Exception], str, str], ...] = (
    (jwt.ExpiredSignatureError, "TOKEN_EXPIRED", "the token has expired"),
    (jwt.ImmatureSignatureError, "TOKEN_NOT_YET_VALID", "the token is not valid yet (nbf or iat in the future)"),
    (jwt.InvalidIssuerError, "TOKEN_WRONG_ISSUER", "the token was issued by an issuer this service does not trust"),
    (jwt.InvalidAudienceError, "TOKEN_WRONG_AUDIENCE", "the token is meant for another audience"),
    (jwt.MissingRequiredClaimError, "TOKEN_CLAIM_MISSING", "the token lacks a required claim"),
    (jwt.InvalidAlgorithmError, "TOKEN_ALGORITHM_REFUSED", "the token's algorithm is not accepted"),
    (jwt.InvalidSignatureError, "TOKEN_BAD_SIGNATURE", "the token's signature does not verify"),
    (jwt.InvalidTokenError, "TOKEN_INVALID", "the token is not a valid JWT"),
)


def _refusal(error: Exception) -> Unauthenticated:
    for error_class, reason, message in _REFUSALS:
        if isinstance(error, error_class):
            return Unauthenticated(f"{message}: {error}" if reason == "TOKEN_CLAIM_MISSING" else message, reason)
    return Unauthenticated("the token is not a valid JWT", "TOKEN_INVALID")


@dataclass(slots=True)
class _Verified:
    expires: float
    principal: Principal
    kid: str | None
    # The key set's revision when the key was last seen published; a later revision is checked again.
    key_revision: int


class TokenVerifier:
    """Turns bearer tokens into principals; verified tokens are kept (at most ``max_entries``) until they expire."""

    def __init__(self, keys: KeySet, issuer: str, audience: str, clock_skew_seconds: float = 30.0,
                 max_entries: int = 100_000) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._skew = clock_skew_seconds
        self._max = max_entries
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    def known(self, token: str) -> Principal | None:
        """The principal of a token verified before (or of the text it was kept as), not expired since, and whose
        key is still published; None otherwise."""
        entry = self._verified.get(token)
        if entry is None:
            return None
        if entry.expires <= time.time():
            self._forget(token)
            return None
        revision = self._keys.revision()
        if revision != entry.key_revision:
            if not self._keys.publishes(entry.kid):
                WITHDRAWN_KEY_TOKENS.inc()
                self._forget(token)
                return None
            entry.key_revision = revision
        return entry.principal

    def _forget(self, token: str) -> None:
        del self._verified[token]
        VERIFIED_TOKENS.set(len(self._verified))

    async def verify(self, token: str, kept_as: str = "") -> Principal:
        """The principal of ``token``, kept once verified under ``kept_as`` (e.g. the whole authorization header a
        caller repeats), or under the token itself."""
        key = kept_as or token
        principal = self.known(key)
        if principal is not None:
            return principal
        revision = self._keys.revision()
        try:
            principal, expires, kid = await self._verify(token)
        except Unauthenticated as refused:
            TOKEN_VERIFICATIONS.labels(refused.reason.lower()).inc()
            raise
        TOKEN_VERIFICATIONS.labels("ok").inc()
        self._verified[key] = _Verified(expires, principal, kid, revision)
        if len(self._verified) > self._max:
            self._verified.popitem(last=False)
        VERIFIED_TOKENS.set(len(self._verified))
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float, str | None]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise _refusal(error) from error
        algorithm = header.get("alg")
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise Unauthenticated(f"the token's algorithm {algorithm!r} is not accepted", "TOKEN_ALGORITHM_REFUSED")
        kid = header.get("kid")
        key = await self._keys.key(kid)
        allowed = [key.algorithm_name] if key.algorithm_name in ASYMMETRIC_ALGORITHMS else list(ASYMMETRIC_ALGORITHMS)
        try:
            claims = jwt.decode(token, key=key.key, algorithms=allowed, audience=self._audience, issuer=self._issuer,
                                leeway=self._skew, options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.InvalidTokenError as error:
            raise _refusal(error) from error
        return _principal_of(claims), float(claims["exp"]), kid


def _principal_of(claims: dict[str, Any]) -> Principal:
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise Unauthenticated("the token's roles claim must be a list of strings", "TOKEN_INVALID")
    organization = claims.get("org", "")
    if not isinstance(organization, str) or not isinstance(claims["sub"], str):
        raise Unauthenticated("the token's org and sub claims must be strings", "TOKEN_INVALID")
    if SERVICE_ROLE not in roles and not organization:
        raise Unauthenticated("the token names no organization (org claim)", "TOKEN_CLAIM_MISSING")
    return Principal(claims["sub"], organization, frozenset(roles))
