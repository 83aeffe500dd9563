"""Tokens an attacker can make without the issuer's private key: unsigned (``alg: none``), and HS256 "signed"
with the issuer's public key as the HMAC secret (PyJWT refuses to sign that way, so it is built by hand)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict, kid: str) -> str:
    return jwt.encode(claims, None, algorithm="none", headers={"kid": kid})


def hs256_keyed_with(secret: bytes, claims: dict, kid: str) -> str:
    """A token whose HMAC-SHA256 secret is ``secret`` (a public key's PEM or JWK text)."""
    signing_input = (_b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()) + "."
                     + _b64(json.dumps(claims).encode()))
    return signing_input + "." + _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
