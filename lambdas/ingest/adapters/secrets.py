"""Secrets Manager: each source's client credentials, cached per Lambda container for five minutes."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from bulkfhir import ClientCredentials
from ingest.errors import ConfigurationError

_SHAPE = '{"client_id": "...", "client_secret": "..."} (bcda, ab2d) or {"client_id": "...", "private_key_jwk": {...}}'


class SecretsManagerCredentials:
    def __init__(self, client: Any, max_age_seconds: float = 300.0) -> None:
        self._client = client
        self._max_age = max_age_seconds
        self._cache: dict[str, tuple[float, ClientCredentials]] = {}
        self._lock = threading.Lock()

    def credentials(self, secret_arn: str) -> ClientCredentials:
        with self._lock:
            cached = self._cache.get(secret_arn)
            if cached and time.monotonic() - cached[0] < self._max_age:
                return cached[1]
        credentials = self._load(secret_arn)
        with self._lock:
            self._cache[secret_arn] = (time.monotonic(), credentials)
        return credentials

    def _load(self, secret_arn: str) -> ClientCredentials:
        name = secret_arn.rsplit(":", 1)[-1]
        try:
            value = self._client.get_secret_value(SecretId=secret_arn)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise ConfigurationError(
                    f"secret {name} has no value yet (or does not exist): put {_SHAPE} into it, e.g. with "
                    "bulk-ingest secret set --source <source> --file creds.json, or aws secretsmanager "
                    f"put-secret-value --secret-id {secret_arn} --secret-string file://creds.json"
                ) from None
            if code in ("AccessDeniedException", "DecryptionFailure"):
                raise ConfigurationError(f"secret {name} cannot be read by this function ({code})") from None
            raise
        text = value.get("SecretString")
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            # Never echo the secret's content, not even a prefix of it.
            raise ConfigurationError(f"secret {name} is not a JSON object; expected {_SHAPE}")
        try:
            return ClientCredentials.from_mapping(data)
        except ValueError as error:
            raise ConfigurationError(f"secret {name}: {error}") from None
