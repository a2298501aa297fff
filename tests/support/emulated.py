"""Helpers to drive the emulator with the bulkfhir client (shared by unit and e2e tests)."""

from __future__ import annotations

import json
from pathlib import Path

from bulkfhir import BulkDataClient, ClientCredentials, ServerConfig
from local.emulator import Emulator
from local.soak.leaks import secrets_seen


def credentials_of(emu: Emulator) -> ClientCredentials:
    if emu.private_key_path:
        jwk = json.loads(Path(emu.private_key_path).read_text())
        return ClientCredentials.from_mapping({"client_id": emu.client_id, "private_key_jwk": jwk})
    return ClientCredentials.from_mapping({"client_id": emu.client_id, "client_secret": emu.client_secret})


def client_of(emu: Emulator, **overrides: object) -> BulkDataClient:
    """A client with its own (real) clock, as in production: the emulator's clock may run ahead
    (tests advance it instead of sleeping), and the client copes with the server's view."""
    config = ServerConfig(api=emu.config.flavor, base_url=emu.base_url, token_url=emu.token_url)
    if overrides:
        config = ServerConfig(**{**config.__dict__, **overrides})
    return BulkDataClient(config, credentials_of(emu))


def secrets_of(emu: Emulator) -> list[str]:
    """Every credential, token and URL signature the emulator ever saw or issued: none may leak anywhere."""
    return sorted(secrets_seen(emu, emu.requests()))
