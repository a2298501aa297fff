"""Each scenario's effect, as a client would notice it."""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

import pytest
import requests

FLAVORS = ("bcda", "ab2d", "smart")


def test_every_scenario_starts(start: Any) -> None:
    from local.emulator import SCENARIOS
    from local.emulator.config import REFERENCE_SCENARIOS

    for scenario in SCENARIOS:
        assert start(flavor="smart" if scenario in REFERENCE_SCENARIOS else "bcda", scenario=scenario).base_url


@pytest.mark.parametrize("flavor", FLAVORS)
def test_kickoff_429_then_accepted(start: Any, client: Any, flavor: str) -> None:
    c = client(start(flavor=flavor, scenario="kickoff-429")).login()

    refused = [c.get(c.export_url()) for _ in range(2)]
    accepted = c.get(c.export_url())

    assert [r.status_code for r in refused] == [429, 429]
    assert all(r.headers["Retry-After"] for r in refused)
    assert all("Content-Location" not in r.headers for r in refused)
    if flavor == "bcda":
        assert refused[0].content == b""
    assert accepted.status_code == 202


@pytest.mark.parametrize("flavor", ["ab2d", "smart"])
def test_kickoff_429_adopt_points_at_the_running_job(start: Any, client: Any, flavor: str) -> None:
    c = client(start(flavor=flavor, scenario="kickoff-429-adopt")).login()

    refused = c.get(c.export_url())
    adopted = refused.headers["Content-Location"]

    assert refused.status_code == 429
    assert c.poll(adopted).status_code == 200
    assert c.get(c.export_url()).status_code == 202


def test_bcda_kickoff_429_adopt_refuses_until_the_running_job_ends(start: Any, client: Any) -> None:
    c = client(start(flavor="bcda", scenario="kickoff-429-adopt")).login()

    refused = [c.get(c.export_url()) for _ in range(2)]
    accepted = c.get(c.export_url())

    assert [(r.status_code, r.content) for r in refused] == [(429, b""), (429, b"")]
    assert accepted.status_code == 202
    assert len(c.emu.jobs()) == 1  # the other client's job is not ours to see


@pytest.mark.parametrize("flavor", FLAVORS)
def test_status_5xx_then_normal(start: Any, client: Any, flavor: str) -> None:
    c = client(start(flavor=flavor, scenario="status-5xx")).login()
    status_url = c.kickoff()

    first, second, third = (c.get(status_url) for _ in range(3))
    after = c.poll(status_url)

    assert (first.status_code, first.headers["Retry-After"]) == (503, "1")
    assert (second.status_code, second.headers["Content-Type"]) == (500, "text/plain; charset=utf-8")
    assert (third.status_code, third.headers["Content-Type"]) == (502, "text/html")
    assert "<html>" in third.text
    assert after.status_code == 200


@pytest.mark.parametrize(("flavor", "status"), [("bcda", 401), ("ab2d", 403), ("smart", 401)])
def test_token_expiry_before_expires_in(start: Any, client: Any, flavor: str, status: int) -> None:
    c = client(start(flavor=flavor, scenario="token-expiry", token_expiry_after_calls=2)).login()

    statuses = [c.get(c.export_url("Patient/$export", "v1")).status_code for _ in range(3)]
    refused = c.get(c.export_url())

    assert statuses[:2] == [202, 202] or statuses[:2] == [202, 429]
    assert refused.status_code == status
    if flavor == "bcda":
        assert refused.json()["issue"][0]["diagnostics"] == "Expired Token"
    if flavor == "ab2d":
        assert refused.content == b""
    assert c.login().get(c.export_url("Patient/$export", "v3")).status_code != status


@pytest.mark.parametrize("flavor", ["bcda", "smart"])
def test_drop_connection_cuts_the_first_download_half_way(start: Any, client: Any, flavor: str) -> None:
    c = client(start(flavor=flavor, scenario="drop-connection")).login()
    url = c.manifest(query="_type=Patient")["output"][0]["url"]
    whole = c.emu.file_gzip(url)

    with pytest.raises(requests.exceptions.RequestException):
        c.download(url).content  # noqa: B018 - reading the body is the point
    second = c.body(c.download(url))

    cut = next(r for r in c.emu.requests() if r.path.endswith(url.rsplit("/", 1)[1]))
    assert 0 < cut.bytes_sent < len(whole)
    assert second == whole


@pytest.mark.parametrize("flavor", FLAVORS)
def test_truncated_gzip_is_a_complete_response_with_a_short_body(start: Any, client: Any, flavor: str) -> None:
    c = client(start(flavor=flavor, scenario="truncated-gzip")).login()
    url = c.manifest()["output"][0]["url"]

    first = c.download(url)
    body = c.body(first)
    second = c.body(c.download(url))

    assert first.status_code == 200
    with pytest.raises(EOFError):
        gzip.decompress(body)
    assert gzip.decompress(second) == c.emu.file_ndjson(url)


@pytest.mark.parametrize(("flavor", "status"), [("bcda", 500), ("ab2d", 500), ("smart", 500)])
def test_job_failed(start: Any, client: Any, flavor: str, status: int) -> None:
    c = client(start(flavor=flavor, scenario="job-failed")).login()

    assert c.poll(c.kickoff()).status_code == status


def test_job_expired(start: Any, client: Any) -> None:
    bcda = client(start(flavor="bcda", scenario="job-expired")).login()
    smart = client(start(flavor="smart", scenario="job-expired")).login()
    ab2d = client(start(flavor="ab2d", scenario="job-expired")).login()

    manifest = ab2d.poll(ab2d.kickoff())
    download = ab2d.download(manifest.json()["output"][0]["url"])

    assert bcda.poll(bcda.kickoff()).status_code == 410
    assert smart.poll(smart.kickoff()).status_code == 410
    assert manifest.status_code == 200
    assert download.status_code == 500
    assert "expired" in download.json()["issue"][0]["details"]["text"]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_foreign_file_host(start: Any, client: Any, flavor: str) -> None:
    c = client(start(flavor=flavor, scenario="foreign-file-host")).login()
    url = c.manifest()["output"][0]["url"]

    anonymous = requests.get(url, headers={"Accept-Encoding": "gzip"})
    with_token = c.download(url)

    assert c.emu.file_host_url and re.fullmatch(r"http://localhost:\d+", c.emu.file_host_url)
    assert url.startswith(c.emu.file_host_url + "/")
    assert anonymous.status_code == with_token.status_code == 200
    # the emulator records a request once answered: two in a row may be listed in either order
    seen = sorted((r.authorization or "", r.listener) for r in c.emu.requests() if r.listener == "file-host")
    assert seen == [("", "file-host"), (f"Bearer {c.token}", "file-host")]


def test_foreign_file_host_can_require_the_token(start: Any, client: Any) -> None:
    c = client(start(flavor="bcda", scenario="foreign-file-host", foreign_host_requires_token=True)).login()
    url = c.manifest()["output"][0]["url"]

    assert requests.get(url).status_code == 401
    assert c.download(url).status_code == 200


def test_slow_export_climbs(start: Any, client: Any) -> None:
    c = client(start(flavor="bcda", scenario="slow-export", slow_export_polls=6)).login()
    status_url = c.kickoff()

    progress = [c.get(status_url).headers.get("X-Progress") for _ in range(6)]

    percents = [int(p[13:-2]) for p in progress[1:]]
    assert progress[0] == "Pending"
    assert percents == sorted(percents) and percents[0] < percents[-1]
    assert c.get(status_url).status_code == 200


@pytest.mark.parametrize("flavor", FLAVORS)
def test_large_files_compress_poorly_and_are_known_exactly(start: Any, client: Any, flavor: str) -> None:
    c = client(start(flavor=flavor, scenario="large-files", file_mb=3, large_file_count=2)).login()
    manifest = c.manifest(query="" if flavor == "ab2d" else "_type=ExplanationOfBenefit")
    eob_urls = [e["url"] for e in manifest["output"] if e["type"] == "ExplanationOfBenefit"]
    jobs = c.emu.jobs()

    body = c.body(c.download(eob_urls[0]))
    served = next(f for f in jobs[-1].files if f.url == eob_urls[0])

    assert len(eob_urls) == 2
    ndjson = c.emu.file_ndjson(eob_urls[0])
    assert len(ndjson) >= 3 * 2**20
    assert served.gz_length > 0.7 * len(ndjson)
    assert served.lines == ndjson.count(b"\n")
    assert gzip.decompress(body) == ndjson
    assert json.loads(ndjson.splitlines()[0])["resourceType"] == "ExplanationOfBenefit"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_malformed_manifest(start: Any, client: Any, flavor: str) -> None:
    c = client(start(flavor=flavor, scenario="malformed-manifest")).login()

    response = c.poll(c.kickoff())

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_no_content_location(start: Any, client: Any, flavor: str) -> None:
    c = client(start(flavor=flavor, scenario="no-content-location")).login()

    response = c.get(c.export_url())

    assert response.status_code == 202
    assert "Content-Location" not in response.headers


@pytest.mark.parametrize("flavor", FLAVORS)
def test_html_error_on_kickoff(start: Any, client: Any, flavor: str) -> None:
    c = client(start(flavor=flavor, scenario="html-error")).login()

    response = c.get(c.export_url())

    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert response.text.lstrip().startswith("<html>")


@pytest.mark.parametrize("status", [418, 302])
def test_unexpected_status(start: Any, client: Any, status: int) -> None:
    c = client(start(flavor="bcda", scenario="unexpected-status", unexpected_status=status)).login()
    status_url = c.kickoff()

    response = requests.get(status_url, headers=c.auth, allow_redirects=False)

    assert response.status_code == status
    if status == 302:
        assert response.headers["Location"]
