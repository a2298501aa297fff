"""The SMART Bulk Data flavour: signed-JWT client assertions, standard status/manifest/downloads."""

from __future__ import annotations

import gzip
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _token(smart: Any, assertion: str) -> requests.Response:
    form = {
        "grant_type": "client_credentials",
        "scope": "system/*.read",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    return requests.post(smart.emu.token_url, data=form)


def test_discovery_advertises_the_token_endpoint(smart: Any) -> None:
    emu = smart.emu

    configuration = requests.get(f"{emu.base_url}/.well-known/smart-configuration").json()

    assert emu.base_url.endswith("/fhir")
    assert configuration["token_endpoint"] == emu.token_url
    assert emu.client_secret is None
    key = json.loads(Path(emu.private_key_path).read_text())
    assert (key["alg"], key["kty"]) == ("RS384", "RSA") and key["kid"]


def test_es384_keys_can_be_chosen(start: Any, client: Any) -> None:
    smart = client(start(flavor="smart", smart_key_alg="ES384"))

    assert smart.fetch_token().status_code == 200
    assert json.loads(Path(smart.emu.private_key_path).read_text())["alg"] == "ES384"


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "https://elsewhere.example/token"},
        {"iss": "someone-else"},
        {"exp": int(time.time()) + 3600},
        {"exp": int(time.time()) - 60},
    ],
)
def test_bad_assertions_are_refused(smart: Any, overrides: dict[str, Any]) -> None:
    response = _token(smart, smart.assertion(**overrides))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_an_assertion_cannot_be_replayed(smart: Any) -> None:
    assertion = smart.assertion()

    assert _token(smart, assertion).status_code == 200
    assert _token(smart, assertion).json()["error"] == "invalid_client"


def test_export_status_and_manifest(smart: Any) -> None:
    status_url = smart.kickoff()

    queued, running, done = (smart.get(status_url) for _ in range(3))

    assert queued.headers["X-Progress"] == "QUEUED: 0.00%"
    assert re.fullmatch(r"RUNNING: \d+\.\d\d%", running.headers["X-Progress"])
    assert running.headers["Retry-After"]
    manifest = done.json()
    assert [e["type"] for e in manifest["output"]] == ["Patient", "Coverage", "ExplanationOfBenefit"]
    for entry in manifest["output"]:
        lines = smart.emu.file_ndjson(entry["url"]).count(b"\n")
        assert entry["count"] == lines
        assert entry["extension"][0]["valueString"].startswith("sha256:")
    assert set(manifest["extension"]) == {"https://dpc.cms.gov/submit_time", "https://dpc.cms.gov/complete_time"}


def test_cancelled_claims_are_deleted_and_reported_under_deleted_to_a_since_request(smart: Any) -> None:
    full = smart.poll(smart.kickoff()).json()
    assert full["deleted"] == []  # deletions are reported only to a request with _since
    assert b'"cancelled"' not in b"".join(smart.emu.file_ndjson(e["url"]) for e in full["output"])

    smart.emu.advance_data(days=30)
    smart.login()  # the month outlived the token
    since = full["transactionTime"]
    changes = smart.poll(smart.kickoff(query=f"_since={since.replace('+', '%2B')}")).json()
    (entry,) = changes["deleted"]
    assert entry["type"] == "Bundle" and entry["count"] > 0
    bundles = [json.loads(line) for line in smart.emu.file_ndjson(entry["url"]).splitlines()]
    assert len(bundles) == entry["count"]
    assert {(b["resourceType"], b["type"]) for b in bundles} == {("Bundle", "transaction")}
    deleted = {e["request"]["url"] for b in bundles for e in b["entry"] if e["request"]["method"] == "DELETE"}
    assert len(deleted) == entry["count"] and all(url.startswith("ExplanationOfBenefit/") for url in deleted)
    before = {
        "ExplanationOfBenefit/" + json.loads(line)["id"]
        for e in full["output"]
        if e["type"] == "ExplanationOfBenefit"
        for line in smart.emu.file_ndjson(e["url"]).splitlines()
    }
    assert deleted & before  # claims the first export handed out, since withdrawn or replaced


def test_group_and_system_exports(smart: Any) -> None:
    everyone = smart.get(smart.export_url("Group/all/$export"))
    system = smart.get(smart.export_url("$export"))
    unknown = smart.get(smart.export_url("Group/nobody/$export"))

    assert (everyone.status_code, system.status_code, unknown.status_code) == (202, 202, 404)


def test_download_head_etag_range(smart: Any) -> None:
    url = smart.manifest(query="_type=Patient")["output"][0]["url"]
    gz = smart.emu.file_gzip(url)

    head = requests.head(url, headers=smart.auth | {"Accept-Encoding": "gzip"})
    etag = head.headers["ETag"]
    not_modified = smart.download(url, "gzip", **{"If-None-Match": etag})
    partial = smart.download(url, "gzip", Range="bytes=0-9")
    beyond = smart.download(url, "gzip", Range=f"bytes={len(gz)}-")
    identity = smart.download(url, "identity")

    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) == len(gz)
    assert not_modified.status_code == 304
    assert (partial.status_code, smart.body(partial)) == (206, gz[:10])
    assert partial.headers["Content-Range"] == f"bytes 0-9/{len(gz)}"
    assert beyond.status_code == 416
    assert smart.body(identity) == gzip.decompress(gz)
    assert identity.headers["ETag"] != etag


def test_files_and_status_expire_after_24_hours(smart: Any) -> None:
    status_url = smart.kickoff()
    url = smart.poll(status_url).json()["output"][0]["url"]

    smart.emu.clock.advance(24 * 3600 + 60)
    smart.login()

    assert smart.get(status_url).status_code == 410
    assert smart.download(url).status_code == 410


def test_missing_token_is_401(smart: Any) -> None:
    response = requests.get(smart.export_url(), headers={"Accept": "application/fhir+json", "Prefer": "respond-async"})

    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"
