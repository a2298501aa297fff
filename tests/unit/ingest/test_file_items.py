"""files.json: one entry per server file, each with a landing key of its own, stable across re-polls."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bulkfhir import Manifest, ManifestFile, UnexpectedResponseError
from ingest.payloads import RunContext
from ingest.services.check_status import file_items

RUN = RunContext(
    run_id="20261201T000000.000Z-abcdef",
    source="src",
    scope="Patient",
    export="Patient",
    types=(),
    since=None,
    until=None,
    type_filters=(),
    run_date="2026-12-01",
    started_at="2026-12-01T00:00:00.000000Z",
    watermark_before=None,
    download_concurrency=4,
)


def manifest(*outputs: ManifestFile, errors: tuple[ManifestFile, ...] = ()) -> Manifest:
    return Manifest(
        transaction_time=datetime(2026, 12, 1, tzinfo=UTC),
        transaction_time_raw="2026-12-01T00:00:00Z",
        request="https://x/$export",
        requires_access_token=True,
        output=outputs,
        error=errors,
    )


def test_types_that_sanitise_alike_still_get_a_key_each():
    # "A.B" and "A_B" both become A_B in a key: one file must not be recorded as the other
    items, _ = file_items(
        RUN,
        manifest(
            ManifestFile("A.B", "https://x/1.ndjson"),
            ManifestFile("A_B", "https://x/2.ndjson"),
            ManifestFile("A.B", "https://x/3.ndjson"),
        ),
        [],
    )
    keys = [item.key for item in items]
    assert len(set(keys)) == 3
    assert [key.rsplit("/", 1)[1] for key in keys] == [
        "A_B-0001.ndjson.gz",
        "A_B-0002.ndjson.gz",
        "A_B-0003.ndjson.gz",
    ]


def test_a_re_poll_in_another_order_keeps_each_files_index_and_key():
    first, _ = file_items(
        RUN, manifest(*(ManifestFile("ExplanationOfBenefit", f"https://x/{n}.ndjson") for n in range(1, 5))), []
    )
    again, _ = file_items(
        RUN,
        manifest(*(ManifestFile("ExplanationOfBenefit", f"https://x/{n}.ndjson") for n in (3, 1, 4, 2))),
        first,
    )
    assert {item.url: (item.index, item.key) for item in again} == {item.url: (item.index, item.key) for item in first}


def test_a_re_poll_keeps_files_no_longer_listed_and_numbers_new_ones_after_the_rest():
    first, _ = file_items(
        RUN, manifest(ManifestFile("Patient", "https://x/1"), ManifestFile("Patient", "https://x/2")), []
    )
    again, _ = file_items(
        RUN, manifest(ManifestFile("Patient", "https://x/3"), ManifestFile("Patient", "https://x/1")), first
    )
    assert [(item.index, item.url) for item in again] == [(1, "https://x/1"), (2, "https://x/2"), (3, "https://x/3")]
    assert len({item.key for item in again}) == 3


def test_pre_signed_urls_are_stripped_from_the_items_and_kept_aside():
    items, full = file_items(
        RUN,
        manifest(
            ManifestFile("Patient", "https://files.example/1?X-Amz-Signature=abc"),
            ManifestFile("Patient", "https://x/2"),
        ),
        [],
    )
    assert [(item.url, item.signed) for item in items] == [("https://files.example/1", True), ("https://x/2", False)]
    assert full == {"1": "https://files.example/1?X-Amz-Signature=abc"}


def test_a_file_that_changes_kind_between_polls_is_a_protocol_error():
    first, _ = file_items(RUN, manifest(ManifestFile("Patient", "https://x/1")), [])
    with pytest.raises(UnexpectedResponseError, match="earlier as output"):
        file_items(RUN, manifest(errors=(ManifestFile("OperationOutcome", "https://x/1"),)), first)
