"""One deterministic key per (landed file, table)."""

from __future__ import annotations

import pytest

from claims import LandedFile


def test_the_key_of_a_landed_files_table() -> None:
    landed = LandedFile("bcda prod", "20261125T081627.418Z-10a990", "2026-11-25", "fhir/x", 7)
    assert landed.output_key("claim_version_rows") == (
        "curated/bcda_prod/claim_version_rows/run_month=2026-11/20261125T081627.418Z-10a990-00007.parquet"
    )


@pytest.mark.parametrize(
    ("run_id", "run_date", "file_index", "message"),
    [
        ("r", "2026/11/25", 1, "run_date"),
        ("a/b", "2026-11-25", 1, "run_id"),
        ("", "2026-11-25", 1, "run_id"),
        ("r", "2026-11-25", -1, "file_index"),
    ],
)
def test_a_landed_file_that_cannot_have_a_safe_key_is_refused(
    run_id: str, run_date: str, file_index: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        LandedFile("s", run_id, run_date, "k", file_index)
