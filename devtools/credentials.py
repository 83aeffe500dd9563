"""A local certificate authority, server certificates and tokens, for `make run`, the tests and the benchmarks.

Under one directory: a CA, a certificate for the services (good for localhost and 127.0.0.1, as server and as
client under mTLS), a token signing key with its JWKS, and the services' own tokens. ``mint`` makes a token for
any subject, organization and roles. What exists and is still good for a while is kept; the rest is made anew.
Production gets its certificates from its own CA (cert-manager) and its tokens from its own issuer.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import grpc
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from svckit.settings import ServiceSettings

ISSUER = "https://issuer.sparring.localhost"
AUDIENCE = "sparring"
SERVICES = ("persona", "transcript", "analysis", "learning")
SIGNING_ALGORITHM = "ES256"
_RENEW_BEFORE = datetime.timedelta(days=7)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey), f"{path} is not the EC key this module makes"
    return key


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".new")
    temporary.write_bytes(data)
    temporary.chmod(0o600)
    temporary.replace(path)  # readers see the old file or the new one, never half of one


def _still_good(path: Path) -> bool:
    if not path.exists():
        return False
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    return certificate.not_valid_after_utc - _RENEW_BEFORE > datetime.datetime.now(datetime.UTC)


def _certificate(subject: str, public_key, issuer: x509.Name, signing_key, days: int, *, ca: bool,
                 hosts: Iterable[str] = ()) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    else:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = (builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                         ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    return builder.sign(signing_key, hashes.SHA256())


@dataclass(frozen=True)
class LocalCredentials:
    directory: Path

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def cert_file(self) -> Path:
        return self.directory / "server.crt"

    @property
    def key_file(self) -> Path:
        return self.directory / "server.key"

    @property
    def jwks_file(self) -> Path:
        return self.directory / "jwks.json"

    @property
    def signing_key_file(self) -> Path:
        return self.directory / "token-signing.key"

    def service_token_file(self, service: str) -> Path:
        return self.directory / "tokens" / f"service-{service}.jwt"

    def token_environment(self) -> dict[str, str]:
        """The settings a server checks its callers' tokens with: the issuer's keys, the issuer and the audience."""
        return {"AUTH_JWKS": str(self.jwks_file), "AUTH_ISSUER": ISSUER, "AUTH_AUDIENCE": AUDIENCE}

    def environment(self) -> dict[str, str]:
        """The settings of every service (and of the developer tools) for TLS and tokens from this directory."""
        env = {"SPARRING_CREDENTIALS_DIR": str(self.directory), "TLS_CERT_FILE": str(self.cert_file),
               "TLS_KEY_FILE": str(self.key_file), "TLS_CA_FILE": str(self.ca_file), **self.token_environment()}
        env.update({f"{service.upper()}_SERVICE_TOKEN_FILE": str(self.service_token_file(service))
                    for service in SERVICES})
        return env

    def mint(self, subject: str, roles: Iterable[str], organization: str = "",
             lifetime: datetime.timedelta = datetime.timedelta(hours=12), **claims) -> str:
        """A token of this directory's issuer; ``claims`` override or add to the standard ones."""
        key = _load_key(self.signing_key_file)
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "nbf": now,
                   "exp": now + int(lifetime.total_seconds()), "jti": uuid.uuid4().hex, "roles": list(roles)}
        if organization:
            payload["org"] = organization
        payload.update(claims)
        return jwt.encode(payload, key, algorithm=SIGNING_ALGORITHM, headers={"kid": self.key_id})

    @property
    def key_id(self) -> str:
        return json.loads(self.jwks_file.read_text())["keys"][0]["kid"]

    def channel_credentials(self, token: str | None = None, *, client_certificate: bool = False
                            ) -> grpc.ChannelCredentials:
        """TLS trusting this CA, with ``token`` on every call, and this directory's certificate if asked (mTLS)."""
        tls = grpc.ssl_channel_credentials(
            root_certificates=self.ca_file.read_bytes(),
            private_key=self.key_file.read_bytes() if client_certificate else None,
            certificate_chain=self.cert_file.read_bytes() if client_certificate else None)
        if token is None:
            return tls
        return grpc.composite_channel_credentials(tls, grpc.access_token_call_credentials(token))

    def channel(self, address: str, token: str | None, options: Iterable[tuple[str, object]] = (), *,
                client_certificate: bool = False) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(address, self.channel_credentials(token, client_certificate=client_certificate),
                                       options=tuple(options))


def local_credentials(directory: Path, hosts: Iterable[str] = ("localhost", "127.0.0.1", "::1"),
                      service_token_lifetime: datetime.timedelta = datetime.timedelta(days=30)) -> LocalCredentials:
    """The credentials under ``directory``, made (or renewed) where missing or about to expire."""
    credentials = LocalCredentials(directory)
    ca_key_file = directory / "ca.key"
    if not _still_good(credentials.ca_file) or not ca_key_file.exists():
        ca_key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sparring local CA")])
        ca_certificate = _certificate("Sparring local CA", ca_key.public_key(), name, ca_key, 365, ca=True)
        _write(ca_key_file, _pem_key(ca_key))
        _write(credentials.ca_file, ca_certificate.public_bytes(serialization.Encoding.PEM))
        credentials.cert_file.unlink(missing_ok=True)  # signed by the old CA
    if not _still_good(credentials.cert_file):
        ca_key = _load_key(ca_key_file)
        ca_name = x509.load_pem_x509_certificate(credentials.ca_file.read_bytes()).subject
        server_key = _new_key()
        certificate = _certificate("sparring", server_key.public_key(), ca_name, ca_key, 90, ca=False, hosts=hosts)
        _write(credentials.key_file, _pem_key(server_key))
        _write(credentials.cert_file, certificate.public_bytes(serialization.Encoding.PEM))
    if not credentials.signing_key_file.exists() or not credentials.jwks_file.exists():
        signing_key = _new_key()
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(signing_key.public_key()))
        public.update({"kid": uuid.uuid4().hex[:16], "alg": SIGNING_ALGORITHM, "use": "sig"})
        _write(credentials.signing_key_file, _pem_key(signing_key))
        _write(credentials.jwks_file, json.dumps({"keys": [public]}, indent=2).encode())
    for service in SERVICES:
        token = credentials.mint(f"service:{service}", ["service"], lifetime=service_token_lifetime)
        _write(credentials.service_token_file(service), token.encode())
    return credentials


# What `make run` makes and the developer tools call with (elsewhere if SPARRING_CREDENTIALS_DIR says so).
DEVELOPMENT_DIRECTORY = Path(__file__).resolve().parent.parent / ".data" / "credentials"
DEVELOPMENT_ORGANIZATION = "acme"


def insecure_development() -> bool:
    """Whether the services run in development mode (plaintext, anonymous): their own setting, read as they read it."""
    return ServiceSettings().insecure_development


def development_credentials() -> LocalCredentials:
    return LocalCredentials(Path(os.environ.get("SPARRING_CREDENTIALS_DIR", DEVELOPMENT_DIRECTORY)))


def development_channel(address: str, *roles: str, subject: str = "",
                        organization: str = DEVELOPMENT_ORGANIZATION) -> grpc.aio.Channel:
    """A channel to a service `make run` started, calling as ``subject`` with ``roles`` in ``organization``.
    In development mode (plaintext) a plaintext channel without a token."""
    if insecure_development():
        return grpc.aio.insecure_channel(address)
    credentials = development_credentials()
    if not credentials.jwks_file.exists():
        raise SystemExit(f"no credentials in {credentials.directory}: start the services with `make run` first")
    return credentials.channel(address, credentials.mint(subject or f"{'+'.join(roles)}@{organization}", roles,
                                                         organization))
