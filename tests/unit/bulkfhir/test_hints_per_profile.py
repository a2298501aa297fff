"""Every hint in a message names the source's own server: its file lifetime, its credentials."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bulkfhir import (
    AuthenticationError,
    BulkDataClient,
    ClientCredentials,
    ExportGoneError,
    ServerConfig,
    file_lifetime_text,
    profile_for,
)
from tests.support.canned import Canned, CannedTransport, session_with

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JSON = {"Content-Type": "application/json"}
TOKEN = json.dumps({"access_token": "a.b.c", "expires_in": 300}).encode()

# (api, base URL, what the messages must name)
SERVERS = [
    ("bcda", "https://sandbox.bcda.cms.gov", "BCDA's file lifetime (24 h)"),
    ("ab2d", "https://sandbox.ab2d.cms.gov", "AB2D's file lifetime (72 h)"),
    ("smart", "https://ehr.example.org/fhir", "the server's file lifetime"),
    (
        "smart",
        "https://bulk-data.smarthealthit.org/eyJlcnIiOiIiLCJkdXIiOjEwfQ/fhir",
        "the SMART reference server's file lifetime (60 minutes)",
    ),
]


def client_for(api: str, base_url: str, transport: CannedTransport) -> BulkDataClient:
    token_url = base_url.split("/", 3)[0] + "//" + base_url.split("/", 3)[2] + "/auth/token"
    if api == "smart":
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(_KEY)) | {"kid": "k1", "alg": "RS384"}
        credentials = ClientCredentials.from_mapping({"client_id": "app", "private_key_jwk": jwk})
    else:
        credentials = ClientCredentials.from_mapping({"client_id": "aco", "client_secret": "s"})
    transport.answer("POST", token_url, Canned(200, JSON, TOKEN))
    config = ServerConfig(api=api, base_url=base_url, token_url=token_url)
    return BulkDataClient(config, credentials, session=session_with(transport))


@pytest.mark.parametrize(("api", "base_url", "lifetime"), SERVERS)
def test_a_gone_file_names_the_file_lifetime_of_the_sources_own_server(api, base_url, lifetime):
    transport = CannedTransport()
    client = client_for(api, base_url, transport)
    file_url = client.api_root + "/files/1.ndjson"
    transport.answer("GET", file_url, Canned(410, {"Content-Type": "text/plain"}, b"Gone"))

    with pytest.raises(ExportGoneError) as raised:
        client.open_file(file_url)

    message = str(raised.value)
    assert f"files are kept only for {lifetime} — start a new export" in message
    assert [
        other for other in ("BCDA", "AB2D", "72 h", "60 minutes") if other in message and other not in lifetime
    ] == []


@pytest.mark.parametrize(("api", "base_url", "lifetime"), SERVERS)
def test_the_profile_of_a_source_is_its_apis_with_what_is_known_of_its_server(api, base_url, lifetime):
    profile = profile_for(api, base_url)
    assert profile.name == api
    assert file_lifetime_text(profile) == lifetime


@pytest.mark.parametrize(
    ("api", "base_url", "hint", "foreign"),
    [
        ("bcda", "https://sandbox.bcda.cms.gov", "BCDA credentials expire after 90 days", "AB2D"),
        ("ab2d", "https://sandbox.ab2d.cms.gov", "AB2D credentials expire", "BCDA"),
        ("smart", "https://ehr.example.org/fhir", "registered with the public key of the key's kid", "BCDA"),
    ],
)
def test_refused_credentials_get_the_hint_of_the_sources_own_api(api, base_url, hint, foreign):
    transport = CannedTransport()
    client = client_for(api, base_url, transport)
    transport.answer("POST", client.token_url(), Canned(401, JSON, b'{"error": "invalid_client"}'))

    with pytest.raises(AuthenticationError) as raised:
        client.authenticate()

    assert hint in str(raised.value)
    assert foreign not in str(raised.value)
