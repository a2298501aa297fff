"""Fixtures for the emulator's wire tests: running emulators and a tiny plain-requests client."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from local.emulator import Emulator, EmulatorConfig

FHIR = {"Accept": "application/fhir+json", "Prefer": "respond-async"}


class Client:
    """Just enough of a Bulk Data client to drive the emulator through plain requests."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.flavor = emu.config.flavor
        self.token = ""

    def fetch_token(self, **assertion: Any) -> requests.Response:
        """A token request; SMART: ``assertion`` overrides claims of the client assertion."""
        emu = self.emu
        if self.flavor == "bcda":
            return requests.post(emu.token_url, auth=(emu.client_id, emu.client_secret or ""), data="")
        if self.flavor == "ab2d":
            form = {"grant_type": "client_credentials", "scope": "clientCreds"}
            return requests.post(emu.token_url, auth=(emu.client_id, emu.client_secret or ""), data=form)
        form = {
            "grant_type": "client_credentials",
            "scope": "system/*.read",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self.assertion(**assertion),
        }
        return requests.post(emu.token_url, data=form)

    def assertion(self, **overrides: Any) -> str:
        assert self.emu.private_key_path
        with open(self.emu.private_key_path) as handle:
            jwk = json.load(handle)
        claims = {
            "iss": self.emu.client_id,
            "sub": self.emu.client_id,
            "aud": self.emu.token_url,
            "exp": int(time.time()) + 300,
            "jti": str(uuid.uuid4()),
        } | overrides
        key = jwt.PyJWK(jwk).key
        return jwt.encode(claims, key, algorithm=jwk["alg"], headers={"kid": jwk["kid"]})

    def login(self) -> Client:
        response = self.fetch_token()
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]
        return self

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, url: str, **headers: str) -> requests.Response:
        return requests.get(url, headers=self.auth | FHIR | headers)

    def export_url(self, path: str = "Patient/$export", version: str = "v2") -> str:
        base = self.emu.base_url
        if self.flavor == "bcda":
            return f"{base}/api/{version}/{path}"
        if self.flavor == "ab2d":
            return f"{base}/api/{version}/fhir/{path}"
        return f"{base}/{path}"

    def kickoff(self, path: str = "Patient/$export", version: str = "v2", query: str = "") -> str:
        url = self.export_url(path, version) + (f"?{query}" if query else "")
        response = self.get(url)
        assert response.status_code == 202, (response.status_code, response.text)
        return response.headers["Content-Location"]

    def poll(self, status_url: str) -> requests.Response:
        """Poll until the status is no longer 202 (moving the clock past AB2D's 5 s throttle)."""
        for _ in range(100):
            response = self.get(status_url)
            if self.flavor == "ab2d":
                self.emu.clock.advance(5)
            if response.status_code != 202:
                return response
        raise AssertionError("the job never finished")

    def manifest(self, path: str = "Patient/$export", version: str = "v2", query: str = "") -> dict[str, Any]:
        response = self.poll(self.kickoff(path, version, query))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def download(self, url: str, encoding: str = "gzip", **headers: str) -> requests.Response:
        """A GET whose body is left exactly as sent (read it with .raw.read(decode_content=False))."""
        sent = self.auth | {"Accept-Encoding": encoding} | headers
        return requests.get(url, headers=sent, stream=True)

    @staticmethod
    def body(response: requests.Response) -> bytes:
        """The body bytes as they came over the wire (no content decoding)."""
        return bytes(response.raw.read(decode_content=False))


@pytest.fixture
def start() -> Iterator[Any]:
    """start(flavor=..., scenario=..., **knobs) -> a running Emulator, stopped after the test."""
    running: list[Emulator] = []

    def _start(**knobs: Any) -> Emulator:
        emu = Emulator(EmulatorConfig(**knobs)).start()
        running.append(emu)
        return emu

    yield _start
    for emu in running:
        emu.stop()


@pytest.fixture
def bcda(start: Any) -> Client:
    return Client(start(flavor="bcda")).login()


@pytest.fixture
def ab2d(start: Any) -> Client:
    return Client(start(flavor="ab2d")).login()


@pytest.fixture
def smart(start: Any) -> Client:
    return Client(start(flavor="smart")).login()


@pytest.fixture
def client() -> type[Client]:
    return Client
