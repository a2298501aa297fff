"""What lands is the file the manifest lists (issue #14): FHIR resources of its type, held to the
manifest's checksum whatever the encoding, and an error file read for outputs the export does not hold."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest

from ingest.errors import VerificationError
from tests.integration.test_file_transfer import item, landed_bytes, range_server, server, transfer  # noqa: F401

COVERAGE = b"".join(b'{"resourceType":"Coverage","id":"part-a-%d","status":"active"}\n' % i for i in range(50))
BLOCK_PAGE = (
    b"<html><head><title>Web Page Blocked</title></head>\n"
    b"<body>Access to the web page you were trying to visit has been blocked.</body></html>\n"
)


def _coverage(server, **expected):  # noqa: F811 - the fixture of test_file_transfer
    return item(server, type_name="Coverage", **expected)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (BLOCK_PAGE, "first line is not a FHIR resource"),  # a block page typed as NDJSON, ending in a newline
        (b'{"resourceType":"Patient","id":"1"}\n', "first line is a Patient, the manifest lists a Coverage"),
        (COVERAGE + b"<p>Session expired: sign in again</p>\n", "last line is not a FHIR resource"),
    ],
)
def test_a_body_that_is_not_resources_of_the_listed_type_does_not_land(aws, server, body, why):  # noqa: F811
    range_server(server, gzip.compress(body))
    with pytest.raises(VerificationError, match=why):
        transfer(aws, server, _coverage(server)).run(None, {})
    assert aws.list_keys("fhir/") == []


def test_resources_of_the_listed_type_land(aws, server):  # noqa: F811
    range_server(server, gzip.compress(COVERAGE))
    result = transfer(aws, server, _coverage(server)).run(None, {})
    assert result.lines == 50 and gzip.decompress(landed_bytes(aws, _coverage(server))) == COVERAGE


def test_an_uncompressed_body_is_held_to_the_checksum_of_the_stored_gzip_file_and_refused(aws, server):  # noqa: F811
    # AB2D's checksum and length describe its stored .gz file; a proxy that decompressed the body used
    # to make the file land unverified
    stored = gzip.compress(COVERAGE)
    range_server(server, COVERAGE, encoding="identity", honour_range=False)
    file_item = _coverage(server, sha256=hashlib.sha256(stored).hexdigest(), length=len(stored))
    with pytest.raises(VerificationError, match="sent it uncompressed although gzip was asked for"):
        transfer(aws, server, file_item).run(None, {})
    assert aws.list_keys("fhir/") == []


def test_an_uncompressed_body_that_is_what_the_checksum_describes_lands(aws, server):  # noqa: F811
    range_server(server, COVERAGE, encoding="identity", honour_range=False)
    file_item = _coverage(server, sha256=hashlib.sha256(COVERAGE).hexdigest(), length=len(COVERAGE))
    assert transfer(aws, server, file_item).run(None, {}).lines == 50


def _outcome(severity: str, code: str, text: str) -> bytes:
    return json.dumps({"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code,
                                                                       "diagnostics": text}]}).encode()  # fmt: skip


@pytest.mark.parametrize(
    ("lines", "failed", "types"),
    [
        # BCDA's normal per-beneficiary errors, and its v3 warning: the export is as complete as it gets
        ([_outcome("error", "not-found", "Error retrieving ExplanationOfBenefit for beneficiary MBI 1S00E00AA66 "
                   "in ACO A9994")] * 3 + [_outcome("warning", "processing", "Default System-Type behavior")], 0, ()),
        # the SMART reference server: whole output files it failed to generate
        ([_outcome("error", "processing", "Failed to export 2.Patient.ndjson"),
          _outcome("error", "processing", "Failed to export 4.ExplanationOfBenefit.ndjson")], 2,
         ("Patient", "ExplanationOfBenefit")),
    ],
)  # fmt: skip
def test_an_error_file_says_whether_output_is_missing_as_a_whole(aws, server, lines, failed, types):  # noqa: F811
    range_server(server, gzip.compress(b"\n".join(lines)))  # the last line without its newline, as the server does
    file_item = item(server, kind="error", type_name="OperationOutcome")
    known = frozenset({"Patient", "ExplanationOfBenefit", "Coverage"})
    result = transfer(aws, server, file_item, known_types=known).run(None, {})
    assert (result.failed_outputs, result.failed_types) == (failed, types)
    metadata = aws.s3.head_object(Bucket="landing-bucket", Key=file_item.key)["Metadata"]
    assert metadata.get("failed-outputs", "0") == str(failed)  # a lost ledger record is rebuilt from it
