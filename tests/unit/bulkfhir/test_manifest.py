from datetime import UTC, datetime

import pytest

from bulkfhir import UnexpectedResponseError, parse_instant
from bulkfhir.manifest import parse_manifest

STATUS_URL = "https://sandbox.bcda.cms.gov/api/v2/jobs/42"


def test_bcda_manifest_with_job_id_and_nanosecond_transaction_time():
    body = {
        "transactionTime": "2026-12-09T20:44:01.705398123Z",
        "request": "https://sandbox.bcda.cms.gov/api/v2/Group/all/$export",
        "requiresAccessToken": True,
        "output": [
            {"type": "ExplanationOfBenefit", "url": "https://sandbox.bcda.cms.gov/data/42/a.ndjson"},
            {"type": "Patient", "url": "https://sandbox.bcda.cms.gov/data/42/b.ndjson"},
        ],
        "error": [{"type": "OperationOutcome", "url": "https://sandbox.bcda.cms.gov/data/42/a-error.ndjson"}],
        "JobID": 42,
    }
    manifest = parse_manifest(body, STATUS_URL)
    assert manifest.transaction_time == datetime(2026, 12, 9, 20, 44, 1, 705398, tzinfo=UTC)
    assert manifest.job_id == "42"
    assert [f.type for f in manifest.output] == ["ExplanationOfBenefit", "Patient"]
    assert manifest.error[0].type == "OperationOutcome"
    assert manifest.output[0].sha256 is None and manifest.output[0].count is None


def test_ab2d_manifest_keeps_its_human_transaction_time_raw_and_reads_extensions():
    digest = "ab" * 32
    body = {
        "transactionTime": "Nov 9, 2023, 3:52:51\u202fPM",
        "request": "https://sandbox.ab2d.cms.gov/api/v2/fhir/Patient/$export",
        "requiresAccessToken": True,
        "output": [
            {
                "type": "ExplanationOfBenefit",
                "url": "https://sandbox.ab2d.cms.gov/api/v2/fhir/Job/u/file/Z1001_0001.ndjson",
                "extension": [
                    {"url": "https://ab2d.cms.gov/checksum", "valueString": f"sha256:{digest.upper()}"},
                    {"url": "https://ab2d.cms.gov/file_length", "valueDecimal": 123456},
                ],
            }
        ],
        "error": [],
    }
    manifest = parse_manifest(body, "https://sandbox.ab2d.cms.gov/api/v2/fhir/Job/u/$status")
    assert manifest.transaction_time is None
    assert manifest.transaction_time_raw.startswith("Nov 9, 2023")
    assert (manifest.output[0].sha256, manifest.output[0].length) == (digest, 123456)
    assert manifest.job_id is None


def test_dpc_style_count_and_relative_urls():
    body = {
        "transactionTime": "2026-01-01T00:00:00+02:00",
        "requiresAccessToken": False,
        "output": [{"type": "Patient", "url": "../Data/x.ndjson", "count": 7}],
    }
    manifest = parse_manifest(body, "https://dpc.example/api/v1/Jobs/abc")
    assert manifest.output[0].url == "https://dpc.example/api/v1/Data/x.ndjson"
    assert manifest.output[0].count == 7
    assert manifest.transaction_time == datetime(2025, 12, 31, 22, tzinfo=UTC)
    assert manifest.requires_access_token is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "not a JSON object"),
        ({"transactionTime": "x"}, "no 'output' array"),
        ({"output": [{"type": "Patient"}]}, r"output\[0\] has no url"),
        ({"output": {"type": "Patient"}}, "no 'output' array"),
        ({"output": [], "error": "x"}, "'error' is not an array"),
        ({"output": [{"type": "Patient", "url": "http://evil.example/p.ndjson"}]}, "must use https"),
    ],
)
def test_malformed_manifests_are_typed_errors(body, message):
    with pytest.raises(UnexpectedResponseError, match=message):
        parse_manifest(body, STATUS_URL)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05.123-05:00", datetime(2026, 1, 2, 8, 4, 5, 123000, tzinfo=UTC)),
        ("2026-01-02T03:04:05", None),  # no zone: not an instant
        ("2026-01-02", None),
        ("Nov 9, 2023, 3:52:51 PM", None),
    ],
)
def test_parse_instant(text, expected):
    assert parse_instant(text) == expected
