"""Which error-file OperationOutcomes hold the watermark, and the first and last lines of a stream."""

from __future__ import annotations

import json

import pytest

from bulkfhir import NdjsonCounter, OutcomeTally
from bulkfhir.gzipstream import LINE_PREFIX_BYTES
from bulkfhir.outcomes import classify


def outcome(*issues: dict[str, object]) -> bytes:
    return json.dumps({"resourceType": "OperationOutcome", "issue": list(issues)}).encode()


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        # BCDA's per-beneficiary error (bcda-app worker), in normal operation
        (
            outcome(
                {
                    "severity": "error",
                    "code": "not-found",
                    "diagnostics": "Error retrieving ExplanationOfBenefit for beneficiary MBI 1S00E00AA66 in ACO A9994",
                }
            ),
            "record",
        ),
        (
            outcome({"severity": "error", "code": "exception", "diagnostics": "Timed out for patient -19990000000001"}),
            "record",
        ),
        # BCDA v3's warnings-and-info.ndjson
        (
            outcome({"severity": "warning", "code": "processing", "diagnostics": "Default System-Type behavior"}),
            "informational",
        ),
        # the SMART reference server's some_file_generation_failed (Manifest.addError)
        (
            outcome({"severity": "error", "code": "processing", "diagnostics": "Failed to export 2.Patient.ndjson"}),
            "failed-output",
        ),
        (
            outcome({"severity": "fatal", "code": "exception", "details": {"text": "Claim export aborted"}}),
            "failed-output",
        ),
        # AB2D's worker (PatientClaimsProcessorImpl.handleException -> FHIRUtil.getErrorOutcome): the
        # root cause of a failure to fetch one beneficiary's claims from BFD, naming no beneficiary.
        # Those claims are in no file of the export: the run is partial, and the next asks again.
        (
            outcome(
                {"severity": "error", "code": "invalid", "details": {"text": "SocketTimeoutException: Read timed out"}}
            ),
            "failed-output",
        ),
        (b"<html>oops</html>", "failed-output"),
        (b'{"resourceType":"Patient","id":"1"}', "failed-output"),
    ],
)
def test_an_error_line_is_informational_a_record_or_a_failed_output(line, kind):
    assert classify(line) == kind


def test_a_tally_counts_failed_outputs_and_names_only_known_types():
    tally = OutcomeTally(frozenset({"Patient", "Claim"}))
    for text in ("Failed to export 2.Patient.ndjson", "Failed to export 4.Claim.ndjson", "Failed to export 6.Patient"):
        tally.feed(outcome({"severity": "error", "code": "processing", "diagnostics": text}))
    tally.feed(outcome({"severity": "error", "code": "not-found", "diagnostics": "x for beneficiary MBI 1"}))
    tally.feed(b"  ")
    assert (tally.failed_outputs, tally.records, tally.failed_types) == (3, 1, ["Patient", "Claim"])


@pytest.mark.parametrize("piece", [1, 7, 64, 10_000])
def test_the_first_and_last_lines_are_kept_however_the_stream_is_cut(piece):
    data = b"".join(b'{"resourceType":"Coverage","id":"%d"}\n' % i for i in range(300)) + b'{"last":true}'
    counter = NdjsonCounter()
    for start in range(0, len(data), piece):
        counter.feed(data[start : start + piece])
    counter.finish()
    assert counter.first_line == b'{"resourceType":"Coverage","id":"0"}'
    assert counter.last_line == b'{"last":true}'
    assert counter.total_lines == 301


def test_a_huge_line_is_kept_only_up_to_its_beginning():
    line = b'{"resourceType":"ExplanationOfBenefit","pad":"' + b"x" * (3 * LINE_PREFIX_BYTES) + b'"}\n'
    counter = NdjsonCounter()
    for start in range(0, len(line), 50_000):
        counter.feed(line[start : start + 50_000])
    assert len(counter.first_line) == LINE_PREFIX_BYTES == len(counter.last_line)
    assert counter.first_line.startswith(b'{"resourceType":"ExplanationOfBenefit"')


def test_every_line_goes_to_the_observer():
    seen: list[bytes] = []
    counter = NdjsonCounter(on_line=seen.append)
    for piece in (b"a\nb", b"b\n\nc", b"c"):
        counter.feed(piece)
    counter.finish()
    assert seen == [b"a", b"bb", b"", b"cc"]
