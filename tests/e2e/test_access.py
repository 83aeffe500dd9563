"""Who may call what, through the real servers: the permission table against every RPC and role, forged and
stale tokens, TLS and mTLS, certificate rotation, the plaintext health port, reflection, rate limits and the
development mode."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import shutil
import socket
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc
import jwt
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.descriptor import MethodDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from sparring.analysis.v1 import analysis_service_pb2, switching_rule_service_pb2
from sparring.auditlog.v1 import audit_log_service_pb2
from sparring.learning.v1 import learning_service_pb2
from sparring.persona.v1 import (
    memory_service_pb2,
    persona_service_pb2_grpc,
    safety_policy_service_pb2,
    voice_agent_service_pb2,
)
from sparring.persona.v1 import persona_service_pb2 as persona_pb
from sparring.transcript.v1 import (
    approval_service_pb2,
    guardrail_check_service_pb2,
    handoff_service_pb2,
    transcript_service_pb2,
)

from access.permissions import PERMISSIONS, ROLES
from analysis_svc.app import SPEC as ANALYSIS
from devtools.credentials import local_credentials
from learning_svc.app import SPEC as LEARNING
from persona_svc.app import ERROR_DOMAIN as PERSONA_DOMAIN
from persona_svc.app import SPEC as PERSONA
from svckit.context import ORGANIZATION_METADATA_KEY, current_call
from svckit.guard import ANY_ROLE, MethodRule
from svckit.server import GrpcApp
from tests.builders import new_persona
from tests.e2e.status_details import reason_and_fields, rejected_in, retry_delay_of
from tests.forged_tokens import hs256_keyed_with, unsigned
from tests.probes import metric
from tests.security import ADMIN, CREDENTIALS, ORGANIZATION, secure_channel, security, service_link, token
from transcript_svc.app import SPEC as TRANSCRIPT

CONTRACTS = (persona_pb, memory_service_pb2, voice_agent_service_pb2, safety_policy_service_pb2, transcript_service_pb2,
             handoff_service_pb2, approval_service_pb2, guardrail_check_service_pb2, analysis_service_pb2,
             switching_rule_service_pb2, learning_service_pb2, audit_log_service_pb2)
# Served by every one of the four servers, over its own service's log.
EVERY_SERVER = "/sparring.auditlog."
CALL_TIMEOUT = 10.0
CONCURRENT_CALLS = 16


def every_rpc() -> dict[str, MethodDescriptor]:
    """Every RPC of the four services and of their audit logs, by full method name, as the contracts declare them."""
    return {f"/{service.full_name}/{method.name}": method
            for contract in CONTRACTS for service in contract.DESCRIPTOR.services_by_name.values()
            for method in service.methods}


def test_every_rpc_has_a_rule_and_every_rule_an_rpc():
    declared, ruled = set(every_rpc()), set(PERMISSIONS)
    assert declared - ruled == set(), "RPCs without a rule (refused to everyone)"
    assert ruled - declared == set(), "rules of RPCs no contract declares"


async def send_once_admitted(call: grpc.aio.StreamStreamCall, request: Any) -> None:
    """Sends ``request`` and half-closes once the server's headers say it admitted the stream. A refused stream has
    ended by then with nothing sent into it: a write racing the refusal can end the call with a status of its own."""
    await call.initial_metadata()
    if not call.done():
        await call.write(request)
        await call.done_writing()


async def outcome(channel: grpc.aio.Channel, method: MethodDescriptor) -> tuple[grpc.StatusCode, str]:
    """The code and ErrorInfo reason of calling ``method`` with an empty request (an empty frame for a stream)."""
    kind = ("stream" if method.client_streaming else "unary") + "_" + ("stream" if method.server_streaming else "unary")
    multicallable = getattr(channel, kind)(f"/{method.containing_service.full_name}/{method.name}")
    call = multicallable(timeout=CALL_TIMEOUT) if method.client_streaming else multicallable(b"", timeout=CALL_TIMEOUT)
    try:
        if method.client_streaming:
            await send_once_admitted(call, b"")
        if method.server_streaming:
            async for _ in call:
                call.cancel()  # it answered: whatever else it streams does not matter here
                break
        else:
            await call
    except grpc.aio.AioRpcError as error:
        return error.code(), reason_and_fields(error)[0]
    return grpc.StatusCode.OK, ""


async def test_every_role_is_refused_exactly_the_rpcs_its_rules_leave_out(
        persona_server, transcript_server, analysis_server, learning_server):
    addresses = {"persona": persona_server, "transcript": transcript_server, "analysis": analysis_server,
                 "learning": learning_server}
    rpcs = every_rpc()
    limit = asyncio.Semaphore(CONCURRENT_CALLS)
    async with contextlib.AsyncExitStack() as channels:
        async def called(role: str, name: str, channel: grpc.aio.Channel) -> tuple[str, str, grpc.StatusCode, str]:
            async with limit:
                return (role, name, *await outcome(channel, rpcs[name]))

        calls = []
        for role in ROLES:
            for service, address in addresses.items():
                channel = await channels.enter_async_context(secure_channel(address, token(role)))
                calls += [called(role, name, channel) for name in rpcs
                          if name.startswith((f"/sparring.{service}.", EVERY_SERVER))]
        outcomes = await asyncio.gather(*calls)

    wrong = []
    for role, name, code, reason in outcomes:
        refused = code == grpc.StatusCode.PERMISSION_DENIED and reason == "ROLE_NOT_PERMITTED"
        if refused == (role in PERMISSIONS[name].roles) or code in (
                grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
            wrong.append(f"{role} {name}: {code.name} {reason}")
    assert not wrong, "\n".join(wrong)
    served_everywhere = sum(name.startswith(EVERY_SERVER) for name in rpcs)
    assert len(outcomes) == len(ROLES) * (len(rpcs) + (len(addresses) - 1) * served_everywhere)


# --- Forged, stale and misdirected tokens on a call that changes data -----------------------------------------

def _claims(**changes) -> dict:
    """The claims of a good author token of the test organization, changed."""
    good = jwt.decode(token("author"), options={"verify_signature": False})
    return {**good, **changes}


def _issuer_public_pem() -> bytes:
    public = jwt.PyJWKSet.from_json(CREDENTIALS.jwks_file.read_text()).keys[0].key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _attacks() -> dict[str, tuple[str | None, str]]:
    kid, expired = CREDENTIALS.key_id, datetime.timedelta(minutes=-5)
    return {
        "no token": (None, "TOKEN_MISSING"),
        "expired": (CREDENTIALS.mint("author@acme", ["author"], ORGANIZATION, lifetime=expired), "TOKEN_EXPIRED"),
        "wrong issuer": (CREDENTIALS.mint("author@acme", ["author"], ORGANIZATION, iss="https://evil.example"),
                         "TOKEN_WRONG_ISSUER"),
        "wrong audience": (CREDENTIALS.mint("author@acme", ["author"], ORGANIZATION, aud="another-api"),
                           "TOKEN_WRONG_AUDIENCE"),
        "bad signature": (jwt.encode(_claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                                     headers={"kid": kid}), "TOKEN_BAD_SIGNATURE"),
        "alg none": (unsigned(_claims(), kid), "TOKEN_ALGORITHM_REFUSED"),
        "HS256 keyed with the public key": (hs256_keyed_with(_issuer_public_pem(), _claims(), kid),
                                            "TOKEN_ALGORITHM_REFUSED"),
    }


async def _stored_personas(engine) -> int:
    async with engine.connect() as connection:
        return await connection.scalar(sa.text("SELECT count(*) FROM persona.personas"))


def _refusals(reason: str) -> float:
    return metric("sparring_auth_refusals_total", grpc_service="sparring.persona.v1.PersonaService",
                  grpc_method="CreatePersona", reason=reason)


async def test_forged_stale_and_unpermitted_tokens_change_nothing_and_are_counted_not_logged(
        persona_server, engine, caplog):
    caplog.set_level(logging.DEBUG)
    attempts = {**_attacks(), "a role that may not create": (token("interviewer"), "ROLE_NOT_PERMITTED")}
    stored = await _stored_personas(engine)
    for attack, (bearer, reason) in attempts.items():
        counted = _refusals(reason)
        code = grpc.StatusCode.PERMISSION_DENIED if reason == "ROLE_NOT_PERMITTED" \
            else grpc.StatusCode.UNAUTHENTICATED
        async with secure_channel(persona_server, bearer) as channel:
            stub = persona_service_pb2_grpc.PersonaServiceStub(channel)
            rejection = await rejected_in(PERSONA_DOMAIN, stub.CreatePersona(
                persona_pb.CreatePersonaRequest(persona=new_persona())), code)
        assert rejection.reason == reason, attack
        assert _refusals(reason) == counted + 1, attack
    assert await _stored_personas(engine) == stored
    assert "refused /sparring.persona.v1.PersonaService/CreatePersona: TOKEN_EXPIRED" in caplog.text
    for bearer, _ in attempts.values():
        signature = (bearer or "").rpartition(".")[2]  # empty for an unsigned token
        assert not signature or (bearer not in caplog.text and signature not in caplog.text)


# --- TLS ------------------------------------------------------------------------------------------------------

async def _health_code(channel: grpc.aio.Channel) -> grpc.StatusCode:
    try:
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_a_plaintext_client_or_one_not_trusting_the_ca_cannot_connect(persona_server):
    async with grpc.aio.insecure_channel(persona_server) as plaintext:
        assert await _health_code(plaintext) == grpc.StatusCode.UNAVAILABLE
    async with grpc.aio.secure_channel(persona_server, grpc.ssl_channel_credentials()) as untrusting:
        assert await _health_code(untrusting) == grpc.StatusCode.UNAVAILABLE


# A small server of its own for what the services' settings change: it answers who the caller is.
WHO_AM_I = "/test.Identity/WhoAmI"


def _identity_service() -> grpc.GenericRpcHandler:
    async def who(request: bytes, context) -> bytes:
        principal = current_call().principal
        return f"{principal.subject}|{principal.organization}|{','.join(sorted(principal.roles))}".encode()

    return grpc.method_handlers_generic_handler("test.Identity", {"WhoAmI": grpc.unary_unary_rpc_method_handler(who)})


async def who_am_i(channel: grpc.aio.Channel, metadata=None) -> str:
    answer = await channel.unary_unary(WHO_AM_I)(b"", metadata=metadata, timeout=CALL_TIMEOUT)
    return answer.decode()


@pytest.fixture
async def connect_app() -> AsyncIterator:
    """``await connect_app(rules, health_port, **settings)``: a started identity server, stopped after the test."""
    apps: list[GrpcApp] = []

    async def start(rules: Mapping[str, MethodRule] | None = None, health_port: int | None = None,
                    **settings) -> GrpcApp:
        app = GrpcApp(service_names=["test.Identity"], error_domain="test.sparring.dev",
                      add_servicers=lambda server: server.add_generic_rpc_handlers([_identity_service()]),
                      security=security({WHO_AM_I: ANY_ROLE} if rules is None else rules, **settings),
                      health_port=health_port)
        await app.start()
        apps.append(app)
        return app

    yield start
    for app in apps:
        await app.stop(grace=1)


async def test_a_person_cannot_act_for_another_organization(connect_app):
    app = await connect_app()
    async with secure_channel(app.address, token("author")) as channel:
        assert await who_am_i(channel, ((ORGANIZATION_METADATA_KEY, "globex"),)) == "author@acme|acme|author"


async def test_mutual_tls_refuses_a_client_without_a_certificate_and_serves_the_services_links(connect_app):
    app = await connect_app(tls_client_auth="require")
    async with secure_channel(app.address) as without_certificate:
        assert await _health_code(without_certificate) == grpc.StatusCode.UNAVAILABLE
    async with CREDENTIALS.channel(app.address, ADMIN, client_certificate=True) as with_certificate:
        assert await who_am_i(with_certificate) == "admin@acme|acme|admin"
    link = service_link(app.address, "analysis", tls_client_auth="require")
    async with link.channel:
        answer = await link.channel.unary_unary(WHO_AM_I)(b"", **link.options(CALL_TIMEOUT, organization="acme"))
    assert answer.decode() == "service:analysis|acme|service"


def _served_serial(address: str) -> int:
    """The serial of the certificate a new TLS connection to ``address`` is shown."""
    host, _, port = address.rpartition(":")
    context = ssl.create_default_context(cafile=str(CREDENTIALS.ca_file))
    context.set_alpn_protocols(["h2"])
    with socket.create_connection((host, int(port)), timeout=CALL_TIMEOUT) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        return int(tls.getpeercert()["serialNumber"], 16)


def _serial_of(certificate_file) -> int:
    return x509.load_pem_x509_certificate(certificate_file.read_bytes()).serial_number


async def test_a_renewed_certificate_is_served_to_new_connections_without_a_restart(connect_app, tmp_path):
    # A directory of its own, with the test CA: its server certificate can be renewed without touching the run's.
    for name in ("ca.crt", "ca.key"):
        shutil.copy(CREDENTIALS.directory / name, tmp_path / name)
    own = local_credentials(tmp_path)
    app = await connect_app(tls_cert_file=str(own.cert_file), tls_key_file=str(own.key_file))
    first = _serial_of(own.cert_file)
    assert await asyncio.to_thread(_served_serial, app.address) == first

    stamps = {path: path.stat().st_mtime_ns for path in (own.cert_file, own.key_file)}
    own.cert_file.unlink()
    local_credentials(tmp_path)  # a new certificate and key from the same CA, as cert-manager renews a secret
    for path, stamp in stamps.items():  # renewed within one tick of a coarse file system clock: same times
        os.utime(path, ns=(stamp, stamp))
    renewed = _serial_of(own.cert_file)
    assert renewed != first
    assert await asyncio.to_thread(_served_serial, app.address) == renewed
    async with secure_channel(app.address) as channel:
        assert await who_am_i(channel) == "admin@acme|acme|admin"


# --- Health port and reflection -------------------------------------------------------------------------------

REFLECTION_INFO = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


async def listed_services(channel: grpc.aio.Channel) -> list[str]:
    call = channel.stream_stream(REFLECTION_INFO,
                                 request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                 response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)(
        timeout=CALL_TIMEOUT)
    await send_once_admitted(call, reflection_pb2.ServerReflectionRequest(list_services=""))
    answer = await call.read()
    if answer is grpc.aio.EOF:
        await call  # raises the call's status
    return [service.name for service in answer.list_services_response.service]


async def _code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value.code()


async def test_the_health_port_serves_health_in_plaintext_and_nothing_else(connect_app):
    app = await connect_app(health_port=0)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.bound_health_port}") as plaintext:
        reply = await health_pb2_grpc.HealthStub(plaintext).Check(
            health_pb2.HealthCheckRequest(service="test.Identity"), timeout=CALL_TIMEOUT)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert await _code_of(who_am_i(plaintext)) == grpc.StatusCode.UNIMPLEMENTED
        assert await _code_of(listed_services(plaintext)) == grpc.StatusCode.UNIMPLEMENTED


async def test_reflection_is_public_authenticated_or_off_as_configured(connect_app):
    public = await connect_app(auth_reflection="public")
    async with secure_channel(public.address, None) as anonymous:
        assert "test.Identity" in await listed_services(anonymous)

    authenticated = await connect_app(auth_reflection="authenticated")
    async with secure_channel(authenticated.address, None) as anonymous:
        assert await _code_of(listed_services(anonymous)) == grpc.StatusCode.UNAUTHENTICATED
    async with secure_channel(authenticated.address, token("analyst")) as known:
        assert "test.Identity" in await listed_services(known)

    off = await connect_app(auth_reflection="off")
    async with secure_channel(off.address) as admin:
        assert await _code_of(listed_services(admin)) == grpc.StatusCode.UNIMPLEMENTED


# --- Rate limits ----------------------------------------------------------------------------------------------

async def test_a_costly_call_beyond_the_burst_is_refused_with_a_retry_delay_except_for_services(connect_app):
    costly = MethodRule(roles=frozenset({"author", "service"}), costly=True)
    # A rate so low that no call of the test is refilled: the burst is all a caller has.
    app = await connect_app({WHO_AM_I: costly}, rate_limit_per_second=0.001, rate_limit_burst=2)
    limited = metric("sparring_rate_limited_total", grpc_service="test.Identity", grpc_method="WhoAmI")
    async with secure_channel(app.address, token("author", subject="hasty@acme")) as hasty:
        for _ in range(2):
            await who_am_i(hasty)
        rejection = await rejected_in("test.sparring.dev", who_am_i(hasty), grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert rejection.reason == "RATE_LIMITED"
    assert retry_delay_of(rejection.status) > 0
    assert metric("sparring_rate_limited_total", grpc_service="test.Identity", grpc_method="WhoAmI") == limited + 1
    # The same subject in another organization is another caller, with a bucket of its own.
    async with secure_channel(app.address, token("author", subject="hasty@acme", organization="globex")) as namesake:
        await who_am_i(namesake)

    link = service_link(app.address, "transcript")
    async with link.channel:
        for _ in range(5):
            await link.channel.unary_unary(WHO_AM_I)(b"", **link.options(CALL_TIMEOUT, organization="acme"))


# --- Development mode -----------------------------------------------------------------------------------------

async def test_development_mode_serves_plaintext_and_takes_anonymous_calls_as_admins(connect_app, caplog):
    caplog.set_level(logging.WARNING, logger="svckit.transport")
    app = await connect_app(insecure_development=True)
    assert "DEVELOPMENT MODE" in caplog.text
    async with grpc.aio.insecure_channel(app.address) as plaintext:
        assert await who_am_i(plaintext) == "anonymous|development|admin"


MISSING_SETTINGS = ("TLS_CERT_FILE", "TLS_KEY_FILE", "AUTH_JWKS", "AUTH_ISSUER", "AUTH_AUDIENCE")


@pytest.mark.parametrize("spec", [PERSONA, TRANSCRIPT, ANALYSIS, LEARNING], ids=lambda spec: spec.name)
async def test_without_tls_settings_or_development_mode_a_service_refuses_to_start(spec, database_url, engine):
    unset = {name.lower(): "" for name in MISSING_SETTINGS}
    with pytest.raises(SystemExit) as refused:
        await spec.build(spec.settings_cls(database_url=database_url, **unset), engine)
    assert all(name in str(refused.value) for name in MISSING_SETTINGS), refused.value
