"""BCDA on the wire: what a client sees from the BCDA emulator, checked with plain requests."""

from __future__ import annotations

import gzip
import json
import re
import zlib
from typing import Any

import pytest
import requests

FHIR = {"Accept": "application/fhir+json", "Prefer": "respond-async"}


# ---- token
def test_token_is_basic_auth_with_a_string_expires_in(bcda: Any) -> None:
    response = bcda.fetch_token()

    assert response.status_code == 200
    assert response.json()["expires_in"] == "1200"
    assert response.json()["token_type"] == "bearer"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Connection"] == "close"


@pytest.mark.parametrize(
    ("auth", "status", "text"),
    [(None, 400, "Bad Request"), (("someone", "wrong"), 401, "Unauthorized")],
)
def test_token_errors_are_plain_text(bcda: Any, auth: Any, status: int, text: str) -> None:
    response = requests.post(bcda.emu.token_url, auth=auth, data="")

    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text.strip() == text


def test_token_rate_limit_answers_429_with_retry_after(start: Any, client: Any) -> None:
    emu = start(flavor="bcda", bcda_token_rate_limit=2)
    bcda = client(emu)
    statuses = [bcda.fetch_token().status_code for _ in range(3)]
    last = bcda.fetch_token()

    assert statuses == [200, 200, 429]
    assert last.headers["Retry-After"] == "300"
    assert "exceeded the rate limit for /auth/token" in last.text


def test_every_response_closes_the_connection_and_forbids_caching(bcda: Any) -> None:
    response = bcda.get(bcda.export_url())

    assert response.headers["Connection"] == "close"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.headers["Cache-Control"] == "no-cache; no-store; must-revalidate; max-age=0"


# ---- API authentication
@pytest.mark.parametrize(
    ("authorization", "status", "diagnostics"),
    [
        (None, 401, "Invalid Token"),
        ("bearer abc", 401, "Invalid Token"),
        ("Bearer not-a-jwt", 400, "Request Error"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", 401, "Expired Token"),
    ],
)
def test_bad_bearer_tokens(bcda: Any, authorization: str | None, status: int, diagnostics: str) -> None:
    headers = FHIR | ({"Authorization": authorization} if authorization else {})
    response = requests.get(bcda.export_url(), headers=headers)

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/fhir+json"
    assert response.json()["issue"][0]["diagnostics"] == diagnostics


def test_expired_token_after_twenty_minutes(bcda: Any) -> None:
    bcda.emu.clock.advance(1201)

    response = bcda.get(bcda.export_url())

    assert response.status_code == 401
    assert response.json()["issue"][0]["diagnostics"] == "Expired Token"


@pytest.mark.parametrize(
    ("version", "details"),
    [
        ("v1", None),
        (
            "v2",
            {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/ValueSet/operation-outcome",
                        "code": "Request Error",
                        "display": "Invalid Token",
                    }
                ],
                "text": "Invalid Token",
            },
        ),
        ("v3", {"text": "Invalid Token"}),
    ],
)
def test_operation_outcome_shape_depends_on_the_version(bcda: Any, version: str, details: Any) -> None:
    response = requests.get(bcda.export_url(version=version), headers=FHIR)

    issue = response.json()["issue"][0]
    assert issue["code"] == "forbidden"
    assert issue["diagnostics"] == "Invalid Token"
    assert issue.get("details") == details


def test_v3_can_be_switched_off(start: Any, client: Any) -> None:
    bcda = client(start(flavor="bcda", v3_enabled=False)).login()

    response = bcda.get(bcda.export_url(version="v3"))

    assert response.status_code == 403
    assert response.json()["issue"][0]["diagnostics"] == "V3 access not enabled for this ACO"


# ---- kick-off validation, in the server's order
@pytest.mark.parametrize(
    ("query", "headers", "message"),
    [
        (
            "_outputFormat=csv",
            {},
            "_outputFormat parameter must be one of [ndjson application/fhir+ndjson application/ndjson]",
        ),
        ("_elements=id", {}, "Invalid parameter: this server does not support the _elements parameter."),
        ("_type=Patient&?_since=2020-01-01T00:00:00Z", {}, "Invalid parameter: query parameters cannot start with ?"),
        (
            "_since=2020-01-01",
            {},
            "Invalid date format supplied in _since parameter.  Date must be in FHIR Instant format.",
        ),
        (
            "_since=2020-01-01T00:00:00+05:00",
            {},
            "Invalid date format supplied in _since parameter.  Date must be in FHIR Instant format.",
        ),
        (
            "_since=2999-01-01T00:00:00Z",
            {},
            "Invalid date format supplied in _since parameter. Date must be a date that has already passed",
        ),
        ("_type=Patient,Patient", {}, "Repeated resource type Patient"),
        ("", {"Accept": ""}, "Accept header is required"),
        ("", {"Accept": "*/*"}, "application/fhir+json is the only supported response format"),
        ("", {"Prefer": ""}, "Prefer header is required"),
        ("", {"Prefer": "respond-sync"}, "Only asynchronous responses are supported"),
        (
            "_type=Observations",
            {},
            "invalid resource type Observations. "
            "Supported types [Patient Coverage ExplanationOfBenefit Claim ClaimResponse]",
        ),
        ("_type=Claim", {}, "unauthorized resource type Claim"),
    ],
)
def test_kickoff_validation_messages(bcda: Any, query: str, headers: dict[str, str], message: str) -> None:
    response = bcda.get(bcda.export_url() + "?" + query, **headers)

    assert response.status_code == 400
    assert response.json()["issue"][0]["diagnostics"] == message


def test_url_errors_come_before_header_errors(bcda: Any) -> None:
    response = bcda.get(bcda.export_url() + "?_elements=id", Accept="", Prefer="")

    assert "_elements" in response.json()["issue"][0]["diagnostics"]


def test_unknown_group_is_rejected(bcda: Any) -> None:
    response = bcda.get(bcda.export_url("Group/everyone/$export"))

    assert response.status_code == 400
    assert response.json()["issue"][0]["diagnostics"] == "Invalid group ID"


def test_kickoff_answers_202_with_increasing_integer_job_ids(bcda: Any) -> None:
    first = bcda.get(bcda.export_url() + "?_type=Patient")
    second = bcda.get(bcda.export_url("Group/all/$export") + "?_type=Coverage")

    assert (first.status_code, second.status_code) == (202, 202)
    assert first.content == b""
    ids = [int(r.headers["Content-Location"].rsplit("/", 1)[1]) for r in (first, second)]
    assert ids[1] == ids[0] + 1
    assert first.headers["Content-Location"] == f"{bcda.emu.base_url}/api/v2/jobs/{ids[0]}"


def test_duplicate_in_flight_job_gets_an_empty_429(start: Any, client: Any) -> None:
    bcda = client(start(flavor="bcda", bcda_retry_after=7)).login()
    bcda.kickoff()

    again = bcda.get(bcda.export_url())
    other_version = bcda.get(bcda.export_url(version="v1"))

    assert again.status_code == 429
    assert again.content == b""
    assert again.headers["Retry-After"] == "7"
    assert other_version.status_code == 202


def test_types_overlap_rule_compares_the_old_raw_type_string(bcda: Any) -> None:
    bcda.kickoff(query="_type=Patient,Coverage")

    # the old job's whole "_type" value is compared with each new type: no overlap is seen
    assert bcda.get(bcda.export_url() + "?_type=Patient").status_code == 202
    assert bcda.get(bcda.export_url() + "?_type=Patient").status_code == 429


# ---- status
def test_progress_then_manifest(bcda: Any) -> None:
    status_url = bcda.kickoff("Group/all/$export")

    first, second, done = (bcda.get(status_url) for _ in range(3))

    assert (first.status_code, first.headers["X-Progress"]) == (202, "Pending")
    assert second.status_code == 202
    assert re.fullmatch(r"In Progress \(\d+%\)", second.headers["X-Progress"])
    assert "Retry-After" not in first.headers and "Retry-After" not in second.headers
    assert done.status_code == 200
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC", done.headers["Expires"])
    body = done.json()
    assert list(body) == ["transactionTime", "request", "requiresAccessToken", "output", "error", "JobID"]
    assert body["JobID"] == int(status_url.rsplit("/", 1)[1])
    assert body["request"] == bcda.export_url("Group/all/$export")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", body["transactionTime"])
    assert all(set(entry) == {"type", "url"} for entry in body["output"] + body["error"])
    assert all(
        re.search(r"/data/\d+/[0-9a-f-]{36}(-error)?\.ndjson$", e["url"]) for e in body["output"] + body["error"]
    )


def test_manifest_splits_eob_by_fifty_beneficiaries(start: Any, client: Any) -> None:
    bcda = client(start(flavor="bcda", patients=120, error_files=False)).login()

    manifest = bcda.manifest(query="_type=ExplanationOfBenefit,Patient")

    types = [entry["type"] for entry in manifest["output"]]
    assert types == ["ExplanationOfBenefit"] * 3 + ["Patient"]
    assert manifest["error"] == []
    patients = bcda.emu.file_ndjson(manifest["output"][-1]["url"]).splitlines()
    assert len(patients) == 120


def test_error_files_hold_operation_outcomes_with_mbis(bcda: Any) -> None:
    manifest = bcda.manifest()

    assert manifest["error"]
    line = json.loads(bcda.emu.file_ndjson(manifest["error"][0]["url"]).splitlines()[0])
    assert line["resourceType"] == "OperationOutcome"
    assert re.search(r"beneficiary MBI \w{11} ", line["issue"][0]["diagnostics"])


def test_v3_adds_the_warnings_file_when_eob_has_no_shared_system_tag(bcda: Any) -> None:
    manifest = bcda.manifest(version="v3")

    warning = [e for e in manifest["error"] if e["url"].endswith("/warnings-and-info.ndjson")]
    assert len(warning) == 1
    outcome = json.loads(bcda.emu.file_ndjson(warning[0]["url"]))
    assert outcome["issue"][0]["severity"] == "warning"


def test_failed_cancelled_unknown_and_bad_job_ids(start: Any, client: Any) -> None:
    failed = client(start(flavor="bcda", scenario="job-failed", job_polls=0)).login()
    bcda = client(start(flavor="bcda")).login()

    failure = failed.get(failed.kickoff())
    status_url = bcda.kickoff()
    cancel = requests.delete(status_url, headers=bcda.auth)
    cancelled = bcda.get(status_url)
    cancel_again = requests.delete(status_url, headers=bcda.auth)

    assert failure.status_code == 500
    assert failure.json()["issue"][0] == {
        "severity": "error",
        "code": "exception",
        "diagnostics": "Service encountered numerous errors. Job failed to complete.",
        "details": failure.json()["issue"][0]["details"],
    }
    assert (cancel.status_code, cancel.content) == (202, b"")
    assert cancelled.status_code == 404
    assert cancelled.json()["issue"][0]["diagnostics"] == "Job has been cancelled."
    assert cancel_again.status_code == 410
    assert bcda.get(f"{bcda.emu.base_url}/api/v2/jobs/999").status_code == 404
    assert bcda.get(f"{bcda.emu.base_url}/api/v2/jobs/abc").status_code == 400


def test_completed_job_expires_after_24_hours_then_is_archived(bcda: Any) -> None:
    status_url = bcda.kickoff()
    manifest = bcda.poll(status_url).json()
    file_url = manifest["output"][0]["url"]

    bcda.emu.clock.advance(24 * 3600 + 60)
    bcda.login()
    gone = bcda.get(status_url)
    still_on_disk = bcda.download(file_url)
    bcda.emu.clock.advance(3600)
    bcda.login()
    archived = bcda.get(status_url)
    archived_file = bcda.download(file_url)

    assert gone.status_code == 410
    assert gone.json()["issue"][0]["code"] == "not-found"
    assert still_on_disk.status_code == 200
    assert archived.status_code == 404
    with pytest.raises(json.JSONDecodeError):  # two JSON documents back to back
        json.loads(archived.text)
    assert archived.text.count('"resourceType":"OperationOutcome"') == 2
    assert archived_file.status_code == 404


# ---- downloads
def test_gzip_download_is_the_stored_file_plus_an_empty_member(bcda: Any) -> None:
    url = bcda.manifest()["output"][0]["url"]

    response = bcda.download(url, "gzip, deflate")
    body = bcda.body(response)

    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in response.headers
    assert response.headers["Content-Type"] == "application/fhir+ndjson"
    assert body == bcda.emu.file_gzip(url)
    assert gzip.decompress(body) == bcda.emu.file_ndjson(url)
    first_member = zlib.decompressobj(31)
    assert first_member.decompress(body) == bcda.emu.file_ndjson(url)
    assert len(first_member.unused_data) == 23  # what a one-member decoder leaves behind


def test_range_is_honoured_in_gzip_mode(bcda: Any) -> None:
    url = bcda.manifest()["output"][0]["url"]
    full = bcda.emu.file_gzip(url)

    response = bcda.download(url, "gzip", Range="bytes=100-")
    body = bcda.body(response)

    assert response.status_code == 206
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Range"].startswith("bytes 100-")
    assert full[:100] + body == full


def test_identity_download_is_decompressed_and_ignores_range(bcda: Any) -> None:
    url = bcda.manifest()["output"][0]["url"]

    response = bcda.download(url, "identity", Range="bytes=100-")

    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert "Content-Length" not in response.headers
    assert bcda.body(response) == bcda.emu.file_ndjson(url)


def test_missing_file_is_a_plain_text_404(bcda: Any) -> None:
    url = bcda.manifest()["output"][0]["url"]

    response = bcda.download(url.rsplit("/", 1)[0] + "/nope.ndjson")

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text.strip() == "Not Found"


def test_download_needs_the_token(bcda: Any) -> None:
    url = bcda.manifest()["output"][0]["url"]

    assert requests.get(url).status_code == 401


# ---- other endpoints
def test_jobs_history_is_a_bundle_of_tasks(bcda: Any) -> None:
    empty = bcda.get(f"{bcda.emu.base_url}/api/v2/jobs")
    bcda.kickoff()

    listed = bcda.get(f"{bcda.emu.base_url}/api/v2/jobs?_status=Pending")
    bad = bcda.get(f"{bcda.emu.base_url}/api/v2/jobs?_status=Done")

    assert empty.status_code == 404
    assert listed.json()["resourceType"] == "Bundle"
    task = listed.json()["entry"][0]["resource"]
    assert (task["resourceType"], task["status"]) == ("Task", "accepted")
    assert task["input"][0]["valueString"].startswith("GET http://")
    assert bad.status_code == 400


def test_metadata_needs_no_token_and_attribution_status_does(bcda: Any) -> None:
    base = bcda.emu.base_url
    v1 = requests.get(f"{base}/api/v1/metadata").json()
    v2 = requests.get(f"{base}/api/v2/metadata").json()
    attribution = bcda.get(f"{base}/api/v2/attribution_status").json()
    welcome = requests.get(f"{base}/auth/welcome", headers=bcda.auth).json()

    assert (v1["fhirVersion"], v2["fhirVersion"]) == ("3.0.1", "4.0.1")
    assert [d["type"] for d in attribution["ingestion_dates"]] == ["last_attribution_update", "last_runout_update"]
    assert welcome == {"success": "Welcome to the Beneficiary Claims Data API!"}
    assert requests.get(f"{base}/api/v2/attribution_status").status_code == 401


def test_v1_observation_is_accepted_then_fails(bcda: Any) -> None:
    status_url = bcda.kickoff(version="v1", query="_type=Observation")

    assert bcda.poll(status_url).status_code == 500
