"""Credentials for a local run against a real server: from the command line or the environment."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from local.runner.errors import LocalRunError


class CredentialOptions(Protocol):
    """What the credentials are read from: LocalRunOptions, or local-run's parsed arguments."""

    client_id: str | None
    client_secret: str | None
    private_key: Path | None
    key_id: str | None


def _jwk_from_file(options: CredentialOptions) -> dict[str, Any]:
    assert options.private_key is not None
    try:
        text = options.private_key.read_text()
    except OSError as error:
        raise LocalRunError(f"cannot read --private-key {options.private_key}: {error.strerror}") from None
    if text.lstrip().startswith("{"):
        try:
            jwk: dict[str, Any] = json.loads(text)
        except ValueError:
            raise LocalRunError(f"--private-key {options.private_key} is not valid JSON (a JWK)") from None
    elif "PRIVATE KEY" in text:
        try:
            key = load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError):
            raise LocalRunError(f"--private-key {options.private_key}: not an unencrypted PEM private key") from None
        if isinstance(key, rsa.RSAPrivateKey):
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
            jwk["alg"] = "RS384"
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))
            jwk["alg"] = "ES384"
        else:
            raise LocalRunError("--private-key must be an RSA or EC key (SMART uses RS384 or ES384)")
    else:
        raise LocalRunError(f"--private-key {options.private_key} is neither a JWK (JSON) nor a PEM private key")
    if options.key_id:
        jwk["kid"] = options.key_id
    if "kid" not in jwk:
        raise LocalRunError("the private key has no key id: pass --key-id (the kid registered with the server)")
    return jwk


def credentials_from_options(options: CredentialOptions) -> dict[str, Any]:
    """The secret's JSON shape, from --client-id/--client-secret/--private-key or BULK_CLIENT_ID/BULK_CLIENT_SECRET."""
    client_id = options.client_id or os.environ.get("BULK_CLIENT_ID")
    if not client_id:
        raise LocalRunError("a client id is needed: --client-id or BULK_CLIENT_ID")
    if options.private_key:
        return {"client_id": client_id, "private_key_jwk": _jwk_from_file(options)}
    secret = options.client_secret or os.environ.get("BULK_CLIENT_SECRET")
    if not secret:
        raise LocalRunError("a client secret is needed: --client-secret, BULK_CLIENT_SECRET, or --private-key (smart)")
    return {"client_id": client_id, "client_secret": secret}
