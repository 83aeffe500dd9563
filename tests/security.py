"""The tests' credentials: one local CA, certificate and token issuer for the whole run (under .data/), the
settings that make every service use them, and channels carrying a token of any role and organization."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import grpc

from access.permissions import PERMISSIONS
from devtools.credentials import local_credentials
from svckit.guard import MethodRule
from svckit.settings import ServiceSettings
from svckit.transport import Security, ServiceLink

CREDENTIALS = local_credentials(Path(__file__).resolve().parent.parent / ".data" / "test-credentials")
ORGANIZATION = "acme"
OTHER_ORGANIZATION = "globex"


def use_test_credentials() -> None:
    """Every service built or started from here on serves TLS and checks tokens of the test issuer."""
    os.environ.update(CREDENTIALS.environment())
    os.environ.pop("SPARRING_INSECURE_DEVELOPMENT", None)


@functools.cache
def token(*roles: str, organization: str = ORGANIZATION, subject: str = "") -> str:
    """A token of the test issuer; the subject is made from the roles and organization unless given."""
    return CREDENTIALS.mint(subject or f"{'+'.join(roles)}@{organization}", roles, organization)


ADMIN_SUBJECT = f"admin@{ORGANIZATION}"
ADMIN = token("admin", subject=ADMIN_SUBJECT)


def secure_channel(address: str, bearer: str | None = ADMIN, options: Iterable[tuple[str, object]] = ()
                   ) -> grpc.aio.Channel:
    """A TLS channel to a test server, every call carrying ``bearer`` (by default an admin of ORGANIZATION)."""
    return CREDENTIALS.channel(address, bearer, options)


def security(rules: Mapping[str, MethodRule] | None = None, **settings) -> Security:
    """A test server's TLS and token checks, by the services' permission table unless ``rules`` are given;
    ``settings`` override the test credentials' settings."""
    return Security(ServiceSettings(**settings), PERMISSIONS if rules is None else rules)


def service_link(address: str, service: str, **settings) -> ServiceLink:
    """A link to a test server as ``service`` calls it: TLS and that service's own token."""
    return security(service_token_file=str(CREDENTIALS.service_token_file(service)), **settings).link(address)
