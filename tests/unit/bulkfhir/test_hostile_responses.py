"""A hostile or broken server meets the client's error contract: a named error, a bounded payload,
and never a token, a secret or a fetch from the machine the client runs on.

The client talks to ``https://bulk.example.org`` through a scripted transport, so the production rules
apply (nothing here is on loopback)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bulkfhir import (
    BulkDataClient,
    ClientCredentials,
    ExportInProgress,
    ExportRequest,
    ServerConfig,
    TransientError,
    UnexpectedResponseError,
)
from bulkfhir._http import MAX_BODY_BYTES, MAX_ERROR_BODY_BYTES, parse_retry_after
from bulkfhir.manifest import parse_manifest
from tests.support.canned import Canned, CannedTransport, EndlessBody, session_with

BASE = "https://bulk.example.org"
TOKEN_URL = f"{BASE}/auth/token"
STATUS_URL = f"{BASE}/api/v2/jobs/7"
TOKEN_VALUE = "eyJhbGciOi.secret-token-value.sig"
CREDS = ClientCredentials.from_mapping({"client_id": "aco", "client_secret": "the-client-secret"})
JSON = {"Content-Type": "application/json"}
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def transport() -> CannedTransport:
    transport = CannedTransport()
    token = json.dumps({"access_token": TOKEN_VALUE, "expires_in": "1200"}).encode()
    transport.answer("POST", TOKEN_URL, Canned(200, JSON, token))
    return transport


def bcda(transport: CannedTransport) -> BulkDataClient:
    return BulkDataClient(ServerConfig(api="bcda", base_url=BASE), CREDS, session=session_with(transport))


def manifest(*outputs: dict[str, object], **extra: object) -> bytes:
    body = {"transactionTime": "2026-06-01T04:12:33.705398Z", "request": f"{BASE}/api/v2/Group/all/$export",
            "requiresAccessToken": True, "output": list(outputs), "error": [], **extra}  # fmt: skip
    return json.dumps(body).encode()


# ---- Retry-After ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["\u0661\u0662\u0660", "\u00b2", "1\u00b2", "\uff19"])
def test_retry_after_with_digits_that_are_not_ascii_is_unreadable_not_a_crash(value):
    assert parse_retry_after(value, NOW) is None


def test_retry_after_as_an_epoch_timestamp_in_seconds_or_milliseconds_is_a_delay_from_now():
    # the SMART reference server sends when its rate limit lifts: in ms on the first 429, in s after
    in_ninety = NOW.timestamp() + 90
    assert parse_retry_after(str(int(in_ninety)), NOW) == pytest.approx(90)
    assert parse_retry_after(str(int(in_ninety * 1000)), NOW) == pytest.approx(90)
    assert parse_retry_after(str(int(NOW.timestamp()) - 30), NOW) == 0.0
    assert parse_retry_after("9" * 40, NOW) is None


def test_a_status_poll_with_a_non_ascii_retry_after_is_still_a_poll(transport):
    transport.answer("GET", STATUS_URL, Canned(202, {"X-Progress": "In Progress (10%)", "Retry-After": "١٢٠"}))
    status = bcda(transport).check_status(STATUS_URL)
    assert isinstance(status, ExportInProgress)
    assert status.retry_after is None


# ---- what a server may make us fetch ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",  # the Lambda Runtime API
        "https://127.0.0.1/data/1.ndjson",
        "https://localhost/data/1.ndjson",
        "http://169.254.169.254/latest/meta-data/",
        "https://[::1]/data/1.ndjson",
    ],
)
def test_a_manifest_cannot_point_a_production_client_at_its_own_machine(transport, url):
    transport.answer("GET", STATUS_URL, Canned(200, JSON, manifest({"type": "Patient", "url": url})))
    with pytest.raises(UnexpectedResponseError, match=r"points at this machine|must use https"):
        bcda(transport).check_status(STATUS_URL)


def test_loopback_file_urls_are_fine_when_the_configured_server_is_on_loopback():
    parsed = parse_manifest(
        json.loads(manifest({"type": "Patient", "url": "http://127.0.0.1:8080/data/1.ndjson"})),
        "http://127.0.0.1:8080/api/v2/jobs/1",
        allow_loopback=True,
    )
    assert parsed.output[0].url == "http://127.0.0.1:8080/data/1.ndjson"


def test_a_file_url_with_an_invalid_port_is_a_protocol_error(transport):
    bad = manifest({"type": "Patient", "url": "https://files.example.org:99999/1.ndjson"})
    transport.answer("GET", STATUS_URL, Canned(200, JSON, bad))
    with pytest.raises(UnexpectedResponseError, match="invalid port"):
        bcda(transport).check_status(STATUS_URL)


def test_a_kick_off_content_location_on_this_machine_or_too_long_is_refused(transport):
    export = f"{BASE}/api/v2/Group/all/$export"
    transport.answer("GET", export, Canned(202, {"Content-Location": "http://127.0.0.1:9001/jobs/1"}))
    with pytest.raises(UnexpectedResponseError, match="Content-Location"):
        bcda(transport).kick_off(ExportRequest())
    transport.answer("GET", export, Canned(202, {"Content-Location": f"{BASE}/api/v2/jobs/{'9' * 5000}"}))
    with pytest.raises(UnexpectedResponseError, match="characters long"):
        bcda(transport).kick_off(ExportRequest())


def test_running_jobs_named_in_a_429_are_checked_like_any_server_url():
    transport = CannedTransport()
    transport.answer("POST", "https://ab2d.example.org/token", Canned(200, JSON, b'{"access_token":"t"}'))
    listed = "https://ab2d.example.org/api/v2/fhir/Job/a/$status, http://127.0.0.1:9001/x, " + ", ".join(
        f"https://ab2d.example.org/api/v2/fhir/Job/{n}/$status" for n in range(50)
    )
    transport.answer(
        "GET",
        "https://ab2d.example.org/api/v2/fhir/Patient/$export",
        Canned(429, {"Retry-After": "5", "Content-Location": listed}),
    )
    client = BulkDataClient(
        ServerConfig(api="ab2d", base_url="https://ab2d.example.org", token_url="https://ab2d.example.org/token"),
        CREDS,
        session=session_with(transport),
    )
    throttled = client.kick_off(ExportRequest(target="Patient"))
    assert throttled.running_jobs[0] == "https://ab2d.example.org/api/v2/fhir/Job/a/$status"
    assert not any("127.0.0.1" in job for job in throttled.running_jobs)
    assert len(throttled.running_jobs) < 25


# ---- bounded payloads -----------------------------------------------------------------------------


def test_an_endless_x_progress_is_clipped_to_a_line(transport):
    transport.answer("GET", STATUS_URL, Canned(202, {"X-Progress": "In Progress (10%) " + "z" * 100_000}))
    status = bcda(transport).check_status(STATUS_URL)
    assert isinstance(status, ExportInProgress)
    assert status.progress is not None and len(status.progress) <= 100
    assert status.percent == 10


def test_an_endless_transaction_time_is_a_protocol_error(transport):
    transport.answer("GET", STATUS_URL, Canned(200, JSON, manifest(transactionTime="2026" * 100_000)))
    with pytest.raises(UnexpectedResponseError, match="transactionTime"):
        bcda(transport).check_status(STATUS_URL)


def test_a_multi_gigabyte_error_body_is_never_read_whole(transport):
    body = EndlessBody(4 * 1024**3)
    transport.answer("GET", STATUS_URL, Canned(503, {"Content-Type": "text/plain"}, body))
    with pytest.raises(TransientError) as caught:
        bcda(transport).check_status(STATUS_URL)
    assert body.read_bytes <= MAX_ERROR_BODY_BYTES + 64 * 1024
    assert len(str(caught.value)) < 400


def test_a_manifest_larger_than_any_real_one_is_refused_without_reading_it_all(transport):
    body = EndlessBody(2 * 1024**3, fill=b" ")
    transport.answer("GET", STATUS_URL, Canned(200, JSON, body))
    with pytest.raises(UnexpectedResponseError, match="larger than"):
        bcda(transport).check_status(STATUS_URL)
    assert body.read_bytes <= MAX_BODY_BYTES + 64 * 1024


def test_a_huge_error_body_of_a_file_download_is_never_read_whole(transport):
    file_url = f"{BASE}/data/7/a.ndjson"
    body = EndlessBody(4 * 1024**3)
    transport.answer("GET", file_url, Canned(500, {"Content-Type": "text/plain"}, body))
    with pytest.raises(TransientError):
        bcda(transport).open_file(file_url)
    assert body.read_bytes <= MAX_ERROR_BODY_BYTES + 64 * 1024


# ---- manifests that repeat themselves -------------------------------------------------------------


def test_a_file_listed_twice_lands_once_and_one_listed_as_two_kinds_is_a_protocol_error(transport):
    one = {"type": "Patient", "url": f"{BASE}/data/7/a.ndjson"}
    transport.answer("GET", STATUS_URL, Canned(200, JSON, manifest(one, one)))
    done = bcda(transport).check_status(STATUS_URL)
    assert [entry.url for entry in done.manifest.output] == [one["url"]]

    # two URLs of one identity in one answer: two files, or one signed twice? keeping one could lose one
    signed_again = {"type": "Patient", "url": f"{BASE}/data/7/a.ndjson?X-Amz-Signature=other"}
    transport.answer("GET", STATUS_URL, Canned(200, JSON, manifest(one, signed_again)))
    with pytest.raises(UnexpectedResponseError, match="differ only in their signature parameters"):
        bcda(transport).check_status(STATUS_URL)

    clash = manifest(one, error=[{"type": "OperationOutcome", "url": one["url"]}])
    transport.answer("GET", STATUS_URL, Canned(200, JSON, clash))
    with pytest.raises(UnexpectedResponseError, match="both as output"):
        bcda(transport).check_status(STATUS_URL)


def test_a_type_that_is_not_a_name_is_a_protocol_error(transport):
    transport.answer("GET", STATUS_URL, Canned(200, JSON, manifest({"type": "Pa tient", "url": f"{BASE}/d/1"})))
    with pytest.raises(UnexpectedResponseError, match="not a resource type"):
        bcda(transport).check_status(STATUS_URL)


# ---- the token endpoint ------------------------------------------------------------------------


def test_a_form_encoded_token_answer_is_refused_without_quoting_it():
    transport = CannedTransport()
    form = f"access_token={TOKEN_VALUE}&token_type=bearer&expires_in=1200".encode()
    transport.answer("POST", TOKEN_URL, Canned(200, {"Content-Type": "application/x-www-form-urlencoded"}, form))
    with pytest.raises(UnexpectedResponseError) as caught:
        bcda(transport).authenticate()
    assert TOKEN_VALUE not in str(caught.value)
    assert "secret-token" not in str(caught.value)
    assert "application/x-www-form-urlencoded" in str(caught.value)


def test_a_token_error_body_is_never_quoted_but_a_standard_oauth_code_is_named():
    transport = CannedTransport()
    echoed = json.dumps({"error": "invalid_client", "error_description": "bad secret the-client-secret"}).encode()
    transport.answer("POST", TOKEN_URL, Canned(401, JSON, echoed))
    with pytest.raises(Exception) as caught:
        bcda(transport).authenticate()
    assert type(caught.value).__name__ == "AuthenticationError"
    assert "the-client-secret" not in str(caught.value)
    assert "OAuth error invalid_client" in str(caught.value)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_token_requests_never_follow_a_redirect(status):
    transport = CannedTransport()
    transport.answer("POST", TOKEN_URL, Canned(status, {"Location": "http://evil.example.net/steal"}))
    transport.answer("POST", "http://evil.example.net/steal", Canned(200, JSON, b'{"access_token":"x"}'))
    session = session_with(transport, prefixes=("https://", "http://"))
    client = BulkDataClient(ServerConfig(api="bcda", base_url=BASE), CREDS, session=session)
    with pytest.raises(UnexpectedResponseError, match="redirect"):
        client.authenticate()
    assert [sent.url for sent in transport.sent] == [TOKEN_URL]
