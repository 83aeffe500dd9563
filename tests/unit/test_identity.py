"""Bearer tokens checked by TokenVerifier against a JWKS file and a JWKS URL on loopback: a valid token, every
forged or stale one refused with its reason, key rotation, and verified tokens kept until they expire."""

from __future__ import annotations

import asyncio
import datetime
import http.server
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from svckit import identity
from svckit.context import CallContext
from svckit.errors import Unauthenticated
from svckit.guard import ANY_ROLE, CallGuard
from svckit.identity import JwksFile, JwksUrl, KeySet, TokenVerifier, key_set
from tests.forged_tokens import hs256_keyed_with, unsigned
from tests.probes import free_port
from tests.security import security

ISSUER = "https://issuer.test"
AUDIENCE = "sparring"
SKEW = 30.0
METHOD = "/test.Service/Call"


class SigningKey:
    """An RSA key of the issuer, published under ``kid``."""

    def __init__(self, kid: str = "") -> None:
        self.kid = kid or uuid.uuid4().hex[:12]
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def jwk(self) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, claims: dict, **headers) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid, **headers})


def key_set_of(*keys: SigningKey) -> dict:
    return {"keys": [key.jwk for key in keys]}


def claims(**changes) -> dict:
    """Good claims of an author of "acme"; a change to None leaves the claim out."""
    now = int(time.time())
    good = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ada@acme", "iat": now, "nbf": now, "exp": now + 600,
            "org": "acme", "roles": ["author"]}
    good.update(changes)
    return {name: value for name, value in good.items() if value is not None}


class JwksServer:
    """An issuer's JWKS URL on loopback, serving ``keys`` and counting the requests it answers."""

    def __init__(self, keys: dict) -> None:
        self.keys = keys
        self.requests = 0
        self.asked = threading.Event()
        self.answering = threading.Event()  # cleared: requests wait until it is set
        self.answering.set()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.asked.set()
                server.answering.wait()
                body = json.dumps(server.keys).encode()
                server.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_port}/jwks.json"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.answering.set()
        self._http.shutdown()
        self._http.server_close()


class Clock:
    """The verifier's clocks and PyJWT's, moved forward at will instead of waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(identity, "time", clock)

    class ShiftedDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return super().now(tz) + datetime.timedelta(seconds=clock.offset)

    monkeypatch.setattr(jwt.api_jwt, "datetime", ShiftedDatetime)
    return clock


@pytest.fixture(scope="module")
def signer() -> SigningKey:
    return SigningKey()


@pytest.fixture
def jwks_server(signer) -> Iterator[JwksServer]:
    server = JwksServer(key_set_of(signer))
    yield server
    server.close()


def write_jwks(path: Path, keys: dict) -> None:
    """Replaces the file at once, as a rotated secret or ConfigMap is."""
    staged = path.with_suffix(".new")
    staged.write_text(json.dumps(keys))
    staged.replace(path)


def same_modification_time(path: Path, stamp: int) -> None:
    """As a file system whose clock ticks coarsely shows two writes within one tick."""
    os.utime(path, ns=(stamp, stamp))


@pytest.fixture
def jwks_file(tmp_path, signer) -> Path:
    path = tmp_path / "jwks.json"
    write_jwks(path, key_set_of(signer))
    return path


@pytest.fixture(params=["file", "url"])
def verifier(request, jwks_file, jwks_server) -> TokenVerifier:
    source = str(jwks_file) if request.param == "file" else jwks_server.url
    return TokenVerifier(key_set(source, cache_seconds=300), ISSUER, AUDIENCE, clock_skew_seconds=SKEW)


async def refusal_of(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as refused:
        await verifier.verify(token)
    return refused.value.reason


async def test_a_valid_token_proves_its_subject_organization_and_roles(verifier, signer):
    principal = await verifier.verify(signer.sign(claims(roles=["author", "analyst"])))
    assert (principal.subject, principal.organization, principal.roles) == ("ada@acme", "acme",
                                                                             {"author", "analyst"})


async def test_a_service_token_needs_no_organization(verifier, signer):
    principal = await verifier.verify(signer.sign(claims(sub="service:analysis", org=None, roles=["service"])))
    assert principal.is_service and principal.organization == ""


async def test_a_call_without_a_token_is_refused(verifier):
    guard = CallGuard({METHOD: ANY_ROLE}, verifier)
    for credentials in ("", "Bearer ", "Basic dXNlcjpwYXNz"):
        with pytest.raises(Unauthenticated) as refused:
            await guard.admit(CallContext("test", METHOD, credentials), ANY_ROLE)
        assert refused.value.reason == "TOKEN_MISSING"


def _expired_beyond_skew(signer: SigningKey) -> str:
    return signer.sign(claims(exp=int(time.time() - SKEW - 5)))


FORGED = {
    "expired beyond the skew": (_expired_beyond_skew, "TOKEN_EXPIRED"),
    "wrong issuer": (lambda signer: signer.sign(claims(iss="https://evil.test")), "TOKEN_WRONG_ISSUER"),
    "wrong audience": (lambda signer: signer.sign(claims(aud="another-api")), "TOKEN_WRONG_AUDIENCE"),
    "not yet valid": (lambda signer: signer.sign(claims(nbf=int(time.time() + SKEW + 60))), "TOKEN_NOT_YET_VALID"),
    "signed by another key with the same kid": (lambda signer: SigningKey(signer.kid).sign(claims()),
                                                "TOKEN_BAD_SIGNATURE"),
    "alg none": (lambda signer: unsigned(claims(), signer.kid), "TOKEN_ALGORITHM_REFUSED"),
    "HS256 keyed with the public key (PEM)": (
        lambda signer: hs256_keyed_with(signer.public_pem, claims(), signer.kid), "TOKEN_ALGORITHM_REFUSED"),
    "HS256 keyed with the public key (JWK)": (
        lambda signer: hs256_keyed_with(json.dumps(signer.jwk).encode(), claims(), signer.kid),
        "TOKEN_ALGORITHM_REFUSED"),
    "unknown kid": (lambda signer: SigningKey().sign(claims()), "TOKEN_UNKNOWN_KEY"),
    "no sub": (lambda signer: signer.sign(claims(sub=None)), "TOKEN_CLAIM_MISSING"),
    "no exp": (lambda signer: signer.sign(claims(exp=None)), "TOKEN_CLAIM_MISSING"),
    "no aud": (lambda signer: signer.sign(claims(aud=None)), "TOKEN_CLAIM_MISSING"),
    "roles not a list": (lambda signer: signer.sign(claims(roles="admin")), "TOKEN_INVALID"),
    "no org for a person": (lambda signer: signer.sign(claims(org=None)), "TOKEN_CLAIM_MISSING"),
    "not a JWT": (lambda signer: "not-a-jwt", "TOKEN_INVALID"),
}


@pytest.mark.parametrize("forge", FORGED.values(), ids=FORGED.keys())
async def test_a_forged_or_stale_token_is_refused_with_its_reason(verifier, signer, forge):
    make, reason = forge
    assert await refusal_of(verifier, make(signer)) == reason


async def test_a_token_expired_within_the_clock_skew_is_accepted(verifier, signer):
    principal = await verifier.verify(signer.sign(claims(exp=int(time.time() - SKEW / 2))))
    assert principal.subject == "ada@acme"


async def test_a_rotated_jwks_file_serves_the_new_key_and_drops_the_old(jwks_file, signer):
    verifier = TokenVerifier(JwksFile(str(jwks_file)), ISSUER, AUDIENCE)
    rotated = SigningKey()
    write_jwks(jwks_file, key_set_of(signer, rotated))
    assert (await verifier.verify(rotated.sign(claims()))).subject == "ada@acme"
    write_jwks(jwks_file, key_set_of(rotated))
    assert await refusal_of(verifier, signer.sign(claims(sub="old@acme"))) == "TOKEN_UNKNOWN_KEY"


async def test_tokens_verified_with_a_key_withdrawn_from_the_jwks_file_are_refused_from_then_on(
        jwks_file, signer, clock):
    verifier = TokenVerifier(JwksFile(str(jwks_file)), ISSUER, AUDIENCE)
    rotated = SigningKey()
    write_jwks(jwks_file, key_set_of(signer, rotated))
    clock.advance(2)
    leaked, kept = signer.sign(claims(sub="leaked@acme")), rotated.sign(claims(sub="kept@acme"))
    for token in (leaked, kept):
        await verifier.verify(token)

    write_jwks(jwks_file, key_set_of(rotated))  # the issuer withdraws the key that leaked
    clock.advance(2)
    assert verifier.known(leaked) is None
    assert await refusal_of(verifier, leaked) == "TOKEN_UNKNOWN_KEY"
    assert verifier.known(kept).subject == "kept@acme"


async def test_a_jwks_file_replaced_within_one_tick_of_the_file_system_clock_is_read_again(jwks_file, signer):
    verifier = TokenVerifier(JwksFile(str(jwks_file)), ISSUER, AUDIENCE)
    stamp = jwks_file.stat().st_mtime_ns
    rotated = SigningKey()
    write_jwks(jwks_file, key_set_of(rotated))
    same_modification_time(jwks_file, stamp)
    assert (await verifier.verify(rotated.sign(claims()))).subject == "ada@acme"


async def test_a_jwks_file_half_rewritten_keeps_the_last_good_keys(jwks_file, signer):
    verifier = TokenVerifier(JwksFile(str(jwks_file)), ISSUER, AUDIENCE)
    jwks_file.write_text('{"keys": [')
    assert (await verifier.verify(signer.sign(claims()))).subject == "ada@acme"
    jwks_file.unlink()
    assert (await verifier.verify(signer.sign(claims(sub="grace@acme")))).subject == "grace@acme"


def test_an_unreadable_jwks_file_stops_the_start(tmp_path):
    (tmp_path / "jwks.json").write_text("not json")
    with pytest.raises(RuntimeError, match="cannot be read"):
        JwksFile(str(tmp_path / "jwks.json"))


async def test_a_jwks_url_is_fetched_again_on_an_unknown_kid_at_most_once_per_refetch_interval(
        jwks_server, signer, clock):
    verifier = TokenVerifier(JwksUrl(jwks_server.url, cache_seconds=300, refetch_seconds=10), ISSUER, AUDIENCE)
    assert (await verifier.verify(signer.sign(claims()))).subject == "ada@acme"
    assert jwks_server.requests == 1

    rotated = SigningKey()
    jwks_server.keys = key_set_of(rotated)
    clock.advance(11)
    assert (await verifier.verify(rotated.sign(claims()))).subject == "ada@acme"
    assert jwks_server.requests == 2
    assert await refusal_of(verifier, signer.sign(claims(sub="old@acme"))) == "TOKEN_UNKNOWN_KEY"
    for _ in range(20):
        assert await refusal_of(verifier, rotated.sign(claims(), kid=uuid.uuid4().hex)) \
            == "TOKEN_UNKNOWN_KEY"
    assert jwks_server.requests == 2

    clock.advance(11)
    for _ in range(20):
        await refusal_of(verifier, rotated.sign(claims(), kid=uuid.uuid4().hex))
    assert jwks_server.requests == 3


async def test_the_refetch_interval_of_a_jwks_url_is_a_setting(jwks_server, signer, clock):
    guard = security({METHOD: ANY_ROLE}, auth_jwks=jwks_server.url, auth_issuer=ISSUER, auth_audience=AUDIENCE,
                     auth_jwks_refetch_seconds=60).guard
    await guard.admit(CallContext("test", METHOD, f"Bearer {signer.sign(claims())}"), ANY_ROLE)
    rotated = SigningKey()
    jwks_server.keys = key_set_of(signer, rotated)

    clock.advance(11)  # past the default interval, within the one set
    with pytest.raises(Unauthenticated, match="does not publish"):
        await guard.admit(CallContext("test", METHOD, f"Bearer {rotated.sign(claims())}"), ANY_ROLE)
    assert jwks_server.requests == 1
    clock.advance(50)
    await guard.admit(CallContext("test", METHOD, f"Bearer {rotated.sign(claims(sub='grace@acme'))}"), ANY_ROLE)
    assert jwks_server.requests == 2


async def test_tokens_verified_with_a_key_the_issuer_url_withdrew_end_once_the_stale_set_is_fetched_again(
        jwks_server, signer, clock):
    verifier = TokenVerifier(JwksUrl(jwks_server.url, cache_seconds=300, refetch_seconds=10), ISSUER, AUDIENCE)
    leaked = signer.sign(claims(sub="leaked@acme"))
    await verifier.verify(leaked)
    rotated = SigningKey()
    jwks_server.keys = key_set_of(rotated)
    clock.advance(301)

    assert verifier.known(leaked) is not None  # still kept: noticing the stale set starts its fetch
    assert (await verifier.verify(rotated.sign(claims()))).subject == "ada@acme"  # waits for that same fetch
    assert jwks_server.requests == 2
    assert verifier.known(leaked) is None
    assert await refusal_of(verifier, leaked) == "TOKEN_UNKNOWN_KEY"


async def test_a_cold_or_stale_jwks_url_is_fetched_once_for_an_unknown_kid(jwks_server, clock):
    verifier = TokenVerifier(JwksUrl(jwks_server.url, cache_seconds=300, refetch_seconds=10), ISSUER, AUDIENCE)
    assert await refusal_of(verifier, SigningKey().sign(claims())) == "TOKEN_UNKNOWN_KEY"
    assert jwks_server.requests == 1
    clock.advance(301)  # the cached set is stale: fetched again, and that fetch is the one the unknown kid gets
    assert await refusal_of(verifier, SigningKey().sign(claims())) == "TOKEN_UNKNOWN_KEY"
    assert jwks_server.requests == 2


async def test_a_caller_giving_up_does_not_fail_the_others_waiting_for_the_same_fetch(jwks_server, signer):
    verifier = TokenVerifier(JwksUrl(jwks_server.url, cache_seconds=300), ISSUER, AUDIENCE)
    jwks_server.answering.clear()
    impatient = asyncio.ensure_future(verifier.verify(signer.sign(claims(sub="impatient@acme"))))
    await asyncio.to_thread(jwks_server.asked.wait)
    patient = asyncio.ensure_future(verifier.verify(signer.sign(claims(sub="patient@acme"))))
    impatient.cancel()  # its client's deadline passed while the issuer was slow to answer
    jwks_server.answering.set()
    assert (await patient).subject == "patient@acme"
    assert impatient.cancelled()
    assert jwks_server.requests == 1


async def test_an_issuer_out_of_reach_refuses_tokens_until_its_keys_were_fetched_once(signer, clock):
    unreachable = f"http://127.0.0.1:{free_port()}/jwks.json"
    verifier = TokenVerifier(JwksUrl(unreachable, cache_seconds=300), ISSUER, AUDIENCE)
    assert await refusal_of(verifier, signer.sign(claims())) == "KEYS_UNAVAILABLE"

    issuer = JwksServer(key_set_of(signer))
    verifier = TokenVerifier(JwksUrl(issuer.url, cache_seconds=300), ISSUER, AUDIENCE)
    await verifier.verify(signer.sign(claims()))
    issuer.close()
    clock.advance(301)
    assert (await verifier.verify(signer.sign(claims(sub="later@acme")))).subject == "later@acme"


class CountedKeys:
    """A key set that counts how often the verifier asks it for a key."""

    def __init__(self, keys: KeySet) -> None:
        self._keys = keys
        self.asked = 0

    async def key(self, kid: str | None) -> jwt.PyJWK:
        self.asked += 1
        return await self._keys.key(kid)

    def revision(self) -> int:
        return self._keys.revision()

    def publishes(self, kid: str | None) -> bool:
        return self._keys.publishes(kid)


async def test_a_verified_token_is_kept_until_it_expires(jwks_file, signer, clock):
    keys = CountedKeys(JwksFile(str(jwks_file)))
    verifier = TokenVerifier(keys, ISSUER, AUDIENCE, clock_skew_seconds=SKEW)
    token = signer.sign(claims(exp=int(time.time()) + 60))
    for _ in range(3):
        assert (await verifier.verify(token)).subject == "ada@acme"
    assert keys.asked == 1
    assert verifier.known(token) is not None

    clock.advance(60 + SKEW + 1)
    assert verifier.known(token) is None
    assert await refusal_of(verifier, token) == "TOKEN_EXPIRED"


async def test_a_callers_repeated_header_is_admitted_from_its_kept_principal_until_the_token_expires(
        jwks_file, signer, clock):
    keys = CountedKeys(JwksFile(str(jwks_file)))
    guard = CallGuard({METHOD: ANY_ROLE}, TokenVerifier(keys, ISSUER, AUDIENCE, clock_skew_seconds=SKEW))
    token = signer.sign(claims(exp=int(time.time()) + 60))
    for header in (f"Bearer {token}", f"Bearer {token}", f"bearer  {token}"):
        call = CallContext("test", METHOD, header)
        await guard.admit(call, ANY_ROLE)
        assert call.principal.subject == "ada@acme"
    # Kept under the header as it came: the same header again is found, the same token written otherwise verified.
    assert keys.asked == 2

    clock.advance(60 + SKEW + 1)
    with pytest.raises(Unauthenticated) as refused:
        await guard.admit(CallContext("test", METHOD, f"Bearer {token}"), ANY_ROLE)
    assert refused.value.reason == "TOKEN_EXPIRED"
