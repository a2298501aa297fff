"""SMART Backend Services client assertion (a signed JWT, RS384 or ES384).

See https://hl7.org/fhir/smart-app-launch/backend-services.html: iss = sub = client_id,
aud = token URL, exp at most five minutes ahead, a unique jti, kid in the header.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import jwt

from bulkfhir.credentials import Secret
from bulkfhir.errors import AuthenticationError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ALGORITHMS_BY_KTY = {"RSA": "RS384", "EC": "ES384"}
_SUPPORTED = {"RS384", "ES384"}


def _load_jwk(private_key_jwk: Secret) -> dict[str, Any]:
    try:
        jwk = json.loads(private_key_jwk.reveal())
    except ValueError:
        raise AuthenticationError("private_key_jwk is not valid JSON (expected a private JWK object)") from None
    if not isinstance(jwk, dict) or "kty" not in jwk:
        raise AuthenticationError("private_key_jwk must be a JWK object with a 'kty' member")
    if "d" not in jwk:
        raise AuthenticationError("private_key_jwk holds a public key; the private key (member 'd') is needed")
    return jwk


def client_assertion(client_id: str, token_url: str, private_key_jwk: Secret, now: datetime) -> str:
    """A freshly signed assertion for one token request."""
    jwk = _load_jwk(private_key_jwk)
    algorithm = str(jwk.get("alg") or _ALGORITHMS_BY_KTY.get(str(jwk["kty"]), ""))
    if algorithm not in _SUPPORTED:
        raise AuthenticationError(
            f"SMART client assertions are signed with RS384 or ES384; the key says {algorithm or jwk['kty']!r}"
        )
    try:
        key = jwt.PyJWK(jwk, algorithm=algorithm).key
    except (jwt.exceptions.PyJWKError, ValueError, TypeError):
        raise AuthenticationError("private_key_jwk could not be loaded as an RSA or EC private key") from None
    issued = int(now.timestamp())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": issued + 300,
        "iat": issued,
        "jti": uuid.uuid4().hex,
    }
    headers = {"typ": "JWT"}
    if jwk.get("kid"):
        headers["kid"] = str(jwk["kid"])
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)
