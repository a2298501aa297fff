"""The happy path and the monthly incremental run, for each API, on the real state machine."""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime

import pytest

from bulkfhir import parse_instant

FLAVORS = ("bcda", "ab2d", "smart")
SCOPE = {"bcda": "Group/all", "ab2d": "Patient", "smart": "Patient"}


@pytest.mark.parametrize("flavor", FLAVORS)
def test_an_export_lands_every_file_byte_identical_and_moves_the_watermark(stack, flavor):
    s = stack(flavor, patients=120)
    execution = s.run()
    assert execution.status == "SUCCEEDED", execution.cause

    job = s.emu.jobs()[-1]
    landed = s.landed(execution)
    manifest = s.run_manifest(execution)
    assert len(landed) == len(job.files) == manifest["file_count"] == len(manifest["files"])
    by_url = {f["url"]: f for f in manifest["files"]}
    for served in job.files:
        record = by_url[served.url.split("?")[0]]
        body = landed[record["key"]]
        # the gzip bytes exactly as the server sent them (BCDA's extra empty member included)
        assert body == s.emu.file_gzip(served.url)
        assert gzip.decompress(body) == s.emu.file_ndjson(served.url)
        assert record["sha256"] == hashlib.sha256(body).hexdigest()
        assert record["lines"] == s.emu.file_ndjson(served.url).count(b"\n")
        metadata = s.aws.s3.head_object(Bucket=s.aws.bucket, Key=record["key"])["Metadata"]
        assert metadata["sha256"] == record["sha256"] and metadata["run-id"] == manifest["run_id"]

    watermark = s.watermark(SCOPE[flavor])
    if flavor == "ab2d":
        # AB2D's transactionTime is not ISO: the watermark is our recorded kick-off time
        assert watermark == execution.output["job"]["kicked_off_at"]
    else:
        # the same instant (Go's RFC3339Nano drops trailing zeros; the watermark is fixed-width)
        assert parse_instant(watermark) == parse_instant(execution.output["poll"]["transaction_time"])
    assert s.lease(SCOPE[flavor]) is None
    assert s.ledger(manifest["run_id"])["status"] == "SUCCEEDED"
    assert [e["detail-type"] for e in s.events()] == ["ExportLanded"]
    # the scanned logs hold the handlers', the services' and the client's lines
    logs = s.logs.getvalue()
    assert all(line in logs for line in ("run started", "export accepted", "obtained an access token", "run landed"))
    assert s.leaked_secrets() == []


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_month_later_only_what_changed_is_fetched(stack, flavor):
    s = stack(flavor, patients=120)
    first = s.run()
    assert first.status == "SUCCEEDED", first.cause
    first_watermark = s.watermark(SCOPE[flavor])
    first_records = s.run_manifest(first)["records"]

    s.emu.advance_data(days=30)
    second = s.run()
    assert second.status == "SUCCEEDED", second.cause
    job = s.emu.jobs()[-1]
    assert job.since is not None  # the second export asked for changes only
    second_records = s.run_manifest(second)["records"]
    assert 0 < second_records < first_records
    second_watermark = s.watermark(SCOPE[flavor])
    assert second_watermark > first_watermark
    if flavor == "ab2d":
        assert second_watermark == second.output["job"]["kicked_off_at"]
    else:
        assert parse_instant(second_watermark) == parse_instant(second.output["poll"]["transaction_time"])

    # nothing changed since: a third run lands no data. BCDA's transactionTime is the data-load
    # time, so its watermark stays; AB2D's kick-off time and a SMART server's transactionTime (the
    # time the export ran) move on.
    third = s.run()
    assert third.status == "SUCCEEDED", third.cause
    assert s.run_manifest(third)["records"] == 0
    if flavor == "bcda":
        assert s.watermark(SCOPE[flavor]) == second_watermark
    else:
        assert s.watermark(SCOPE[flavor]) > second_watermark


def test_since_none_is_a_full_pull_and_an_explicit_since_is_honoured(stack):
    s = stack("bcda", patients=80)
    assert s.run().status == "SUCCEEDED"
    full = s.run(since="none")
    assert full.status == "SUCCEEDED"
    assert s.emu.jobs()[-1].since is None
    explicit = s.run(since="2026-05-01T00:00:00Z")
    assert explicit.status == "SUCCEEDED"
    assert s.emu.jobs()[-1].since.isoformat().startswith("2026-05-01T00:00:00")


def test_other_types_have_their_own_scope_and_watermark(stack):
    s = stack("bcda", patients=60)
    assert s.run().status == "SUCCEEDED"
    patients_only = s.run(types=["Patient"])
    assert patients_only.status == "SUCCEEDED"
    assert patients_only.output["run"]["scope"] == "Group/all?_type=Patient"
    assert {f["type"] for f in s.run_manifest(patients_only)["files"] if f["kind"] == "output"} == {"Patient"}
    assert s.watermark("Group/all?_type=Patient") is not None
    assert s.watermark("Group/all") is not None


def test_a_full_pull_on_ab2d_v2_asks_from_its_floor_instead_of_its_silent_default(stack):
    s = stack("ab2d", patients=60)
    first = s.run()
    assert first.status == "SUCCEEDED", first.cause
    assert s.emu.last_since_default is not None  # AB2D would now default _since to the first job
    full = s.run(since="none")
    assert full.status == "SUCCEEDED", full.cause
    assert s.emu.jobs()[-1].since == datetime(2020, 2, 13, 5, 0, tzinfo=UTC)
    assert s.run_manifest(full)["records"] == s.run_manifest(first)["records"]


def test_a_servers_deletions_land_under_deleted_with_the_changes(stack):
    # the SMART flavour deletes cancelled claims and reports them to a _since export under deleted[]
    s = stack("smart", patients=120)
    assert s.run().status == "SUCCEEDED"
    s.emu.advance_data(days=30)
    second = s.run()
    assert second.status == "SUCCEEDED", second.cause

    served = [f for f in s.emu.jobs()[-1].files if f.kind == "deleted"]
    assert served and all(f.lines > 0 for f in served)
    records = [f for f in s.run_manifest(second)["files"] if f["kind"] == "deleted"]
    assert [r["url"] for r in records] == [f.url for f in served]
    landed = s.landed(second)
    for file, record in zip(served, records, strict=True):
        assert record["key"].startswith("deleted/e2e/Bundle/")
        assert landed[record["key"]] == s.emu.file_gzip(file.url)
        assert record["lines"] == file.lines
