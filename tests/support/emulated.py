"""Helpers to drive the emulator with the bulkfhir client (shared by unit and e2e tests)."""

from __future__ import annotations

import json
from pathlib import Path

from bulkfhir import BulkDataClient, ClientCredentials, ServerConfig
from local.emulator import Emulator


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
    """Every credential and token the emulator ever saw or issued: none may leak anywhere."""
    found = [emu.client_secret] if emu.client_secret else []
    if emu.private_key_path:
        jwk = json.loads(Path(emu.private_key_path).read_text())
        found += [str(jwk[k]) for k in ("d", "p", "q") if k in jwk]
    for record in emu.requests():
        header = record.authorization or ""
        if header.startswith("Bearer "):
            found.append(header[len("Bearer ") :])
    return [s for s in set(found) if len(s) >= 8]
