"""Run ids name S3 prefixes and sort the run ledger (`bulk-ingest runs` lists newest first by id)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from ingest.services.start_run import new_run_id
from ingest.timeutil import utc_iso


def test_run_ids_started_within_one_second_sort_by_start_time():
    # A re-run right after a fast failure starts in the same second; its random suffix must not
    # decide the order (CI once listed FAILED after SUCCEEDED because of it).
    start = datetime(2026, 11, 25, 9, 16, 52, 1000, tzinfo=UTC)
    ids = [new_run_id(utc_iso(start + timedelta(milliseconds=n))) for n in range(0, 999, 7)]
    assert sorted(ids) == ids
    assert len(set(ids)) == len(ids)


def test_run_id_shape_is_safe_for_s3_prefixes_and_readable():
    run_id = new_run_id("2026-11-25T09:16:52.764123Z")
    assert re.fullmatch(r"20261125T091652\.764Z-[0-9a-f]{6}", run_id)
