"""A 500 with an OperationOutcome: the export's failure, or "try again", by its issue codes.

The Bulk Data spec marks a status poll that failed without the export failing with a code of FHIR's
`transient` branch; the SMART reference server does so for a while (then answers 200), and answers a
kick-off whose files cannot be generated with 500 `processing`. BCDA reports a failed job with
`exception`, a code of that branch it uses for a failure no retry mends."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bulkfhir import (
    BulkDataClient,
    ClientCredentials,
    ExportFailedError,
    ExportRequest,
    ServerConfig,
    TransientError,
)
from tests.support.canned import Canned, CannedTransport, session_with

BASE = "https://bulk.example.org"
TOKEN = json.dumps({"access_token": "a.b.c", "expires_in": 300}).encode()
JSON = {"Content-Type": "application/json"}
FHIR_JSON = {"Content-Type": "application/fhir+json"}
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def outcome(*issues: tuple[str, str, str]) -> bytes:
    """An OperationOutcome of (severity, code, diagnostics) issues."""
    body = {"resourceType": "OperationOutcome",
            "issue": [{"severity": s, "code": c, "diagnostics": d} for s, c, d in issues]}  # fmt: skip
    return json.dumps(body).encode()


def client_for(api: str, transport: CannedTransport) -> BulkDataClient:
    if api == "smart":
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(_KEY)) | {"kid": "k1", "alg": "RS384"}
        config = ServerConfig(api="smart", base_url=f"{BASE}/fhir", token_url=f"{BASE}/auth/token")
        credentials = ClientCredentials.from_mapping({"client_id": "app", "private_key_jwk": jwk})
    else:
        config = ServerConfig(api=api, base_url=BASE)
        credentials = ClientCredentials.from_mapping({"client_id": "aco", "client_secret": "s"})
    transport.answer("POST", f"{BASE}/auth/token", Canned(200, JSON, TOKEN))
    return BulkDataClient(config, credentials, session=session_with(transport))


def status_url(api: str) -> str:
    return f"{BASE}/fhir/bulkstatus/7" if api == "smart" else f"{BASE}/api/v2/jobs/7"


def kickoff_url(api: str) -> str:
    return f"{BASE}/fhir/Patient/$export" if api == "smart" else f"{BASE}/api/v2/Patient/$export"


REFERENCE_TRANSIENT = ("error", "transient", "An unknown error ocurred (transient_error). Please try again.")


@pytest.mark.parametrize(
    "issues",
    [
        [REFERENCE_TRANSIENT],
        [("error", "timeout", "the database timed out")],
        [("error", "throttled", "busy")],
        [("fatal", "lock-error", "locked")],
        [("error", "exception", "an unexpected internal error")],  # FHIR files it under transient
        [("error", "transient", "try again"), ("information", "processing", "still counting")],
    ],
)
def test_a_status_500_whose_issues_are_transient_is_retried_not_the_exports_failure(issues):
    transport = CannedTransport()
    client = client_for("smart", transport)
    transport.answer("GET", status_url("smart"), Canned(500, {**FHIR_JSON, "Retry-After": "3"}, outcome(*issues)))

    with pytest.raises(TransientError) as raised:
        client.check_status(status_url("smart"))

    assert raised.value.status == 500
    assert raised.value.retry_after == 3
    assert issues[0][2] in str(raised.value)


@pytest.mark.parametrize(
    "issues",
    [
        [("error", "processing", "The export failed")],
        [("error", "transient", "try again"), ("error", "processing", "and yet it failed")],
        [("error", "", "no code at all")],
    ],
)
def test_a_status_500_with_any_other_issue_is_the_exports_failure_with_its_diagnostics(issues):
    transport = CannedTransport()
    client = client_for("smart", transport)
    transport.answer("GET", status_url("smart"), Canned(500, FHIR_JSON, outcome(*issues)))

    with pytest.raises(ExportFailedError) as raised:
        client.check_status(status_url("smart"))

    assert issues[-1][2] in raised.value.diagnostics
    assert issues[-1][2] in str(raised.value)


def test_bcdas_failed_job_is_a_failure_although_exception_is_a_transient_code():
    transport = CannedTransport()
    client = client_for("bcda", transport)
    failed = outcome(("error", "exception", "Service encountered numerous errors. Job failed to complete."))
    transport.answer("GET", status_url("bcda"), Canned(500, FHIR_JSON, failed))

    with pytest.raises(ExportFailedError, match="Job failed to complete"):
        client.check_status(status_url("bcda"))


@pytest.mark.parametrize("api", ["bcda", "smart"])
def test_a_status_5xx_that_is_no_operation_outcome_is_retried(api):
    transport = CannedTransport()
    client = client_for(api, transport)
    transport.answer("GET", status_url(api), Canned(500, {"Content-Type": "text/plain"}, b"Internal Server Error"))

    with pytest.raises(TransientError):
        client.check_status(status_url(api))


def test_a_kick_off_whose_files_cannot_be_generated_fails_at_once_with_the_servers_diagnostics():
    # the SMART reference server's simulated "file_generation_failed" (lib.ts outcomes.fileGenerationFailed)
    transport = CannedTransport()
    client = client_for("smart", transport)
    transport.answer(
        "GET", kickoff_url("smart"), Canned(500, FHIR_JSON, outcome(("error", "processing", "File generation failed")))
    )

    with pytest.raises(ExportFailedError) as raised:
        client.kick_off(ExportRequest(target="Patient"))

    assert raised.value.diagnostics == "File generation failed"
    assert "could not start the export: File generation failed" in str(raised.value)
    assert [s.method for s in transport.sent if s.url.startswith(kickoff_url("smart"))] == ["GET"]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, outcome(("error", "transient", "try again"))),
        (500, b"Internal Server Error"),
        (503, outcome(("error", "processing", "a gateway's own outcome"))),
    ],
)
def test_a_kick_off_500_that_says_try_again_or_is_no_outcome_stays_transient(status, body):
    transport = CannedTransport()
    client = client_for("smart", transport)
    transport.answer("GET", kickoff_url("smart"), Canned(status, FHIR_JSON, body))

    with pytest.raises(TransientError):
        client.kick_off(ExportRequest(target="Patient"))
