"""Access tokens the emulator issues (HS256 JWTs) and the SMART client assertions it verifies."""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300  # SMART Backend Services: exp no more than five minutes ahead


@dataclass(frozen=True)
class TokenCheck:
    """Outcome of checking a bearer token: "ok", "malformed" (not a JWT), "invalid", "expired"."""

    verdict: str
    jti: str | None = None


class TokenIssuer:
    """Issues and checks the bearer tokens of one emulator; counts uses per token."""

    def __init__(self, issuer: str) -> None:
        self._key = secrets.token_bytes(32)
        self._issuer = issuer
        self._uses: dict[str, int] = {}
        self._lock = threading.Lock()

    def issue(self, client_id: str, now: datetime, ttl: int, **claims: Any) -> str:
        issued = int(now.timestamp())
        payload = {
            "iss": self._issuer,
            "sub": client_id,
            "iat": issued,
            "exp": issued + ttl,
            "jti": secrets.token_hex(8),
            **claims,
        }
        return jwt.encode(payload, self._key, algorithm="HS256")

    def check(self, token: str, now: datetime) -> TokenCheck:
        try:
            jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return TokenCheck("malformed")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return TokenCheck("invalid")
        if now.timestamp() >= claims["exp"]:
            return TokenCheck("expired", claims["jti"])
        return TokenCheck("ok", claims["jti"])

    def use(self, jti: str) -> int:
        """Count one API call made with a token; returns the count so far."""
        with self._lock:
            self._uses[jti] = self._uses.get(jti, 0) + 1
            return self._uses[jti]


_KEYS: dict[str, Any] = {}
_KEYS_LOCK = threading.Lock()


def _private_key(alg: str) -> Any:
    """One key pair per algorithm and process: RSA generation is slow, and emulators are many in tests."""
    with _KEYS_LOCK:
        if alg not in _KEYS:
            if alg == "ES384":
                _KEYS[alg] = ec.generate_private_key(ec.SECP384R1())
            else:
                _KEYS[alg] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return _KEYS[alg]


class AssertionRejectedError(Exception):
    """A SMART client assertion was refused (message = OAuth error_description)."""


class AssertionVerifier:
    """Checks SMART Backend Services client assertions signed with the registered key."""

    def __init__(self, client_id: str, alg: str, directory: Path) -> None:
        self.client_id = client_id
        self.alg = alg
        self.kid = secrets.token_hex(8)
        private = _private_key(alg)
        algorithm: Any = jwt.algorithms.ECAlgorithm if alg == "ES384" else jwt.algorithms.RSAAlgorithm
        jwk = json.loads(algorithm.to_jwk(private))
        self.public_key = private.public_key()
        jwk |= {"kid": self.kid, "alg": alg, "use": "sig", "key_ops": ["sign"]}
        self.private_key_path = directory / "private-key.jwk.json"
        self.private_key_path.write_text(json.dumps(jwk, indent=2))
        self.private_key_path.chmod(0o600)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def verify(self, assertion: str, audience: str) -> float:
        """Raise AssertionRejectedError unless iss=sub=client_id, aud=token URL, exp ≤ 5 min, jti new;
        return the seconds the assertion has left.

        Lifetimes are checked against real time: the client signs with its own clock, which knows
        nothing of the emulator's offset.
        """
        try:
            header = jwt.get_unverified_header(assertion)
            if header.get("alg") != self.alg:
                raise AssertionRejectedError(f"unsupported alg {header.get('alg')!r}")
            claims = jwt.decode(
                assertion,
                self.public_key,
                algorithms=[self.alg],
                audience=audience,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
                leeway=5,
            )
        except jwt.PyJWTError as error:
            raise AssertionRejectedError(f"invalid client assertion: {error}") from error
        if claims["iss"] != self.client_id or claims["sub"] != self.client_id:
            raise AssertionRejectedError("iss and sub must be the client_id")
        if claims["exp"] - time.time() > MAX_ASSERTION_LIFETIME + 5:
            raise AssertionRejectedError("exp must be no more than 5 minutes in the future")
        with self._lock:
            if claims["jti"] in self._seen:
                raise AssertionRejectedError("jti has already been used")
            self._seen.add(claims["jti"])
        return float(claims["exp"]) - time.time()
