"""Client credentials, kept out of every repr, str and log line."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


class Secret:
    """A string that refuses to show itself. ``reveal()`` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a Secret is not serialisable")


@dataclass(frozen=True)
class ClientCredentials:
    """A client id plus either a shared secret (BCDA, AB2D) or a private JWK (SMART Backend Services)."""

    client_id: str
    client_secret: Secret | None = field(default=None)
    private_key_jwk: Secret | None = field(default=None)  # the JWK as JSON text

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("credentials need a client_id")
        if self.client_secret is None and self.private_key_jwk is None:
            raise ValueError("credentials need a client_secret or a private_key_jwk")

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> ClientCredentials:
        """From the secret's JSON shape: {"client_id", "client_secret"} or {"client_id", "private_key_jwk"}."""
        client_id = str(data.get("client_id") or "").strip()
        secret = data.get("client_secret")
        jwk = data.get("private_key_jwk")
        if isinstance(jwk, dict):
            jwk = json.dumps(jwk)
        if not client_id or not (secret or jwk):
            present = sorted(key for key, value in data.items() if value)
            raise ValueError(
                "credentials must be a JSON object with client_id and client_secret (bcda, ab2d) or "
                f"client_id and private_key_jwk (smart); found keys: {', '.join(present) or 'none'}"
            )
        return cls(
            client_id=client_id,
            client_secret=Secret(str(secret)) if secret else None,
            private_key_jwk=Secret(str(jwk)) if jwk else None,
        )
