"""AB2D on the wire: Okta-like tokens, empty-bodied auth errors, throttles, checksums, download limit."""

from __future__ import annotations

import gzip
import hashlib
import re
from typing import Any

import pytest
import requests

from tests.unit.emulator.conftest import Client


def test_okta_token_in_the_body_or_the_query(ab2d: Any) -> None:
    emu = ab2d.emu
    in_body = ab2d.fetch_token()
    in_query = requests.post(
        emu.token_url + "?grant_type=client_credentials&scope=clientCreds", auth=(emu.client_id, emu.client_secret)
    )

    assert in_body.status_code == in_query.status_code == 200
    assert in_body.json()["expires_in"] == 1800
    assert in_body.json()["token_type"] == "Bearer"
    assert in_body.json()["scope"] == "clientCreds"
    assert emu.token_url.endswith("/oauth2/aus2r7y3gdaFMKBol297/v1/token")


def test_bad_credentials_are_invalid_client(ab2d: Any) -> None:
    form = {"grant_type": "client_credentials", "scope": "clientCreds"}

    response = requests.post(ab2d.emu.token_url, auth=(ab2d.emu.client_id, "wrong"), data=form)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(("authorization", "status"), [(None, 401), ("Basic abc", 401), ("Bearer garbage", 403)])
def test_api_auth_failures_have_empty_bodies(ab2d: Any, authorization: str | None, status: int) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = requests.get(ab2d.export_url(), headers=headers)

    assert (response.status_code, response.content) == (status, b"")


def test_expired_token_is_403_not_401(ab2d: Any) -> None:
    ab2d.emu.clock.advance(1801)

    response = ab2d.get(ab2d.export_url())

    assert (response.status_code, response.content) == (403, b"")


@pytest.mark.parametrize(
    ("version", "query", "message"),
    [
        ("v2", "_type=Patient", "_type must be ExplanationOfBenefit"),
        ("v2", "_outputFormat=text/csv", "An _outputFormat of text/csv is not valid"),
        ("v2", "_since=2019-01-01T00:00:00.000-05:00", "_since must be after 2020-02-13T00:00:00-05:00"),
        ("v3", "_since=2025-01-01T00:00:00.000-05:00", "_since must be after 2026-04-01T00:00:00-05:00"),
        ("v2", "_since=2999-01-01T00:00:00.000-05:00", "You can not use a time after the current time for _since"),
        (
            "v1",
            "_until=2024-01-01T00:00:00.000-05:00",
            "The _until parameter is only available with version 2 and version 3 of the API",
        ),
    ],
)
def test_kickoff_validation(ab2d: Any, version: str, query: str, message: str) -> None:
    response = ab2d.get(ab2d.export_url(version=version) + "?" + query)

    assert response.status_code == 400
    assert response.json() == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "details": {"text": message}}],
    }


def test_v3_job_ids_start_with_33333333(ab2d: Any) -> None:
    status_url = ab2d.kickoff(version="v3")

    assert re.search(r"/api/v3/fhir/Job/33333333-[0-9a-f-]{27}/\$status$", status_url)


def test_parallel_job_limit_points_at_the_running_jobs(start: Any, client: Any) -> None:
    ab2d = client(start(flavor="ab2d", max_parallel_jobs=2)).login()
    first, second = ab2d.kickoff(), ab2d.kickoff()

    refused = ab2d.get(ab2d.export_url())

    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "5"
    assert refused.headers["Content-Location"] == f"{first}, {second}"
    assert "already have active export requests" in refused.json()["issue"][0]["details"]["text"]


def test_polling_faster_than_five_seconds_is_throttled(ab2d: Any) -> None:
    status_url = ab2d.kickoff()

    first = ab2d.get(status_url)
    too_soon = ab2d.get(status_url)
    ab2d.emu.clock.advance(5)
    later = ab2d.get(status_url)

    assert first.status_code == 202
    assert re.fullmatch(r"\d+% complete", first.headers["X-Progress"])
    assert first.headers["Retry-After"] == "5"
    assert too_soon.status_code == 429
    assert too_soon.headers["Retry-After"] == "5"
    assert too_soon.json()["issue"][0]["details"]["text"] == "You are polling too frequently"
    assert later.status_code == 202


def test_manifest_has_checksums_of_the_gzip_files_and_a_human_transaction_time(ab2d: Any) -> None:
    status_url = ab2d.kickoff()
    done = ab2d.poll(status_url)
    manifest = done.json()

    assert "JobID" not in manifest
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d\u202f[AP]M", manifest["transactionTime"])
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", done.headers["Expires"])
    names = [entry["url"].rsplit("/", 1)[1] for entry in manifest["output"] + manifest["error"]]
    assert names == ["Z1001_0001.ndjson", "Z1001_0001_error.ndjson"]
    entry = manifest["output"][0]
    body = ab2d.body(ab2d.download(entry["url"]))
    checksum, length = (extension for extension in entry["extension"])
    assert checksum == {
        "url": "https://ab2d.cms.gov/checksum",
        "valueString": f"sha256:{hashlib.sha256(body).hexdigest()}",
    }
    assert length == {"url": "https://ab2d.cms.gov/file_length", "valueDecimal": len(body)}


def test_download_negotiation(ab2d: Any) -> None:
    url = ab2d.manifest()["output"][0]["url"]

    exact = ab2d.download(url, "gzip")
    with_q = ab2d.download(url, "gzip;q=1.0")
    json_only = ab2d.download(url, "gzip", Accept="application/json")

    assert exact.headers["Content-Encoding"] == "gzip"
    assert "Content-Length" not in exact.headers
    assert exact.headers["Content-Disposition"] == 'inline; swaggerDownload="attachment"; filename="Z1001_0001.ndjson"'
    assert gzip.decompress(ab2d.body(exact)) == ab2d.emu.file_ndjson(url)
    assert "Content-Encoding" not in with_q.headers  # only an exact "gzip" token counts
    assert ab2d.body(with_q) == ab2d.emu.file_ndjson(url)
    assert json_only.status_code == 406


def test_range_is_ignored(ab2d: Any) -> None:
    url = ab2d.manifest()["output"][0]["url"]

    response = ab2d.download(url, "gzip", Range="bytes=10-")

    assert response.status_code == 200
    assert ab2d.body(response) == ab2d.emu.file_gzip(url)


def test_seventh_download_is_refused(ab2d: Any) -> None:
    url = ab2d.manifest()["output"][0]["url"]

    statuses = []
    for _ in range(7):
        response = ab2d.download(url)
        assert response.content is not None  # read to the end: a download counts once complete
        statuses.append(response.status_code)
    seventh = ab2d.download(url)

    assert statuses == [200] * 6 + [500]
    assert seventh.json()["issue"][0]["details"]["text"] == (
        "The file has already been download the maximum number of allowed times."
    )


def test_files_expire_after_72_hours(ab2d: Any) -> None:
    url = ab2d.manifest()["output"][0]["url"]

    ab2d.emu.clock.advance(72 * 3600 + 60)
    ab2d.login()
    response = ab2d.download(url)

    assert response.status_code == 500
    assert "expired" in response.json()["issue"][0]["details"]["text"]


def test_cancel_and_unknown_jobs(ab2d: Any) -> None:
    status_url = ab2d.kickoff()

    cancel = requests.delete(status_url, headers=ab2d.auth)
    cancelled = ab2d.get(status_url)
    again = requests.delete(status_url, headers=ab2d.auth)
    unknown = ab2d.get(status_url.replace(status_url.split("/")[-2], "00000000-0000-4000-8000-000000000000"))

    assert cancel.status_code == 202
    assert cancelled.status_code == 404
    assert cancelled.json()["issue"][0] == {
        "severity": "error",
        "code": "deleted",
        "details": {"text": "Job is canceled."},
    }
    assert again.status_code == 400
    assert unknown.status_code == 404


def test_group_export_needs_the_callers_contract(ab2d: Any) -> None:
    assert ab2d.get(ab2d.export_url("Group/Z9999/$export")).status_code == 403
    assert ab2d.get(ab2d.export_url("Group/Z1001/$export")).status_code == 202


def test_v2_default_since_follows_the_last_fully_downloaded_job(ab2d: Any) -> None:
    emu = ab2d.emu
    first_url = ab2d.kickoff()
    manifest = ab2d.poll(first_url).json()
    first_job = emu.jobs()[0]

    assert emu.last_since_default is None
    assert first_job.since is None
    for entry in manifest["output"]:
        ab2d.download(entry["url"]).content  # noqa: B018 - read to the end
    assert emu.last_since_default == first_job.created_at

    emu.clock.advance(60)
    ab2d.kickoff()
    assert emu.jobs()[1].since == first_job.created_at


def test_the_cms_page_examples_answer_a_full_history_since_at_the_floor(start: Any) -> None:
    # issue #15 defect 7: `local-run --flavor ab2d --scenario cms-examples` landed no EOB, because a
    # full-history AB2D v2 export asks for _since=2020-02-13 (the floor) and the page's claims predate it
    ab2d = Client(start(flavor="ab2d", scenario="cms-examples")).login()
    manifest = ab2d.manifest(query="_since=2020-02-13T00:00:00.000-05:00")
    lines = gzip.decompress(ab2d.body(ab2d.download(manifest["output"][0]["url"]))).splitlines()
    assert [line.count(b'"99995"') for line in lines] == [1]
