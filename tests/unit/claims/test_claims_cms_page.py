"""The three worked examples of CMS's AB2D "Claims data details" page, exactly as the page tells
them (shared/seeds/ab2d-claims-data-details.txt): through the pure rules, and through the views in
DuckDB over Parquet files written by the curation, checked after every export.

The page spells the status "canceled"; the data (FHIR's explanationofbenefit-status) says
"cancelled", which is what the EOBs carry and the views report.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from claims import LandedFile
from claims.extract import claim_version
from claims.rows import ClaimVersion
from claims.rules import Family, duplicates, resolve, version_states
from local.claims.query import ClaimsDatabase
from tests.support.claims import ab2d_eob, day, land

SOURCE = "ab2d-xyz"
GROUP = "99995"

# Each export: (run on, the page's table for that export as (claim id, last updated, status as of then))
UPDATED_CLAIM = [
    ("01/31/2020", [("12987987", "01/01/2020", "active")]),
    ("02/28/2020", [("12987987", "02/10/2020", "cancelled"), ("54689123", "02/10/2020", "active")]),
    ("03/15/2020", []),  # export 3a: AB2D received no update in its window
    ("03/31/2020", [("54689123", "03/31/2020", "cancelled"), ("34543", "03/31/2020", "active")]),
]
# after each export: the family's (current claim id, status, last updated, versions)
UPDATED_CURRENT = [
    ("12987987", "active", "01/01/2020", 1),
    ("54689123", "active", "02/10/2020", 2),
    ("54689123", "active", "02/10/2020", 2),
    ("34543", "active", "03/31/2020", 3),
]
CANCELLED_FAMILY = [
    ("01/31/2020", [("12987987", "01/01/2020", "active")]),
    ("02/28/2020", [("12987987", "02/10/2020", "cancelled"), ("54689123", "02/10/2020", "cancelled")]),
]
CANCELLED_CURRENT = [
    ("12987987", "active", "01/01/2020", 1),
    ("54689123", "cancelled", "02/10/2020", 2),  # all versions cancelled: the newer one, the family cancelled
]
DUPLICATE = [
    ("01/31/2020", [("12987987", "01/01/2020", "active")]),
    ("02/28/2020", [("12987987", "01/01/2020", "active")]),  # the same _since again: the same record
]
DUPLICATE_CURRENT = [("12987987", "active", "01/01/2020", 1), ("12987987", "active", "01/01/2020", 1)]

EXAMPLES = {
    "updated claim": (UPDATED_CLAIM, UPDATED_CURRENT),
    "cancelled family": (CANCELLED_FAMILY, CANCELLED_CURRENT),
    "duplicate from an overlapping _since": (DUPLICATE, DUPLICATE_CURRENT),
}


def _run_id(run_on: str) -> str:
    return day(run_on).strftime("%Y%m%dT%H%M%S.000Z-") + "page01"


def _run_date(run_on: str) -> str:
    return day(run_on).date().isoformat()


def _lines(table: list[tuple[str, str, str]]) -> list[bytes]:
    return [ab2d_eob(GROUP, claim_id, status, day(updated)) for claim_id, updated, status in table]


def _page_date(moment: datetime | str) -> str:
    text = moment if isinstance(moment, str) else moment.isoformat()
    return f"{text[5:7]}/{text[8:10]}/{text[0:4]}"


def _family_as_page(family: Family[ClaimVersion]) -> tuple[str, str, str, int]:
    current = family.current
    return (current.claim_id, family.status, _page_date(current.last_updated), family.versions)


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_page_examples_through_the_pure_rules(example: str) -> None:
    exports, expected_current = EXAMPLES[example]
    records: list[ClaimVersion] = []
    for number, ((run_on, table), expected) in enumerate(zip(exports, expected_current, strict=True), start=1):
        landed = LandedFile(SOURCE, _run_id(run_on), _run_date(run_on), f"export-{number}", 1)
        records += [claim_version(json.loads(line), landed, index) for index, line in enumerate(_lines(table), 1)]
        families = resolve(records)
        assert list(families) == [(SOURCE, GROUP)]
        assert _family_as_page(families[(SOURCE, GROUP)]) == expected
        # every claim id of this export's table now has exactly the page's state
        states = version_states(records)
        for claim_id, updated, status in table:
            state = states[(SOURCE, GROUP, claim_id)].state
            assert (state.status, _page_date(state.last_updated)) == (status, updated)
    dropped = [len(d.dropped) for d in duplicates(records)]
    assert dropped == ([1] if example.startswith("duplicate") else [])


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_page_examples_through_the_views_after_every_export(example: str, tmp_path: Path) -> None:
    exports, expected_current = EXAMPLES[example]
    for (run_on, table), expected in zip(exports, expected_current, strict=True):
        if table:  # export 3a landed no EOB file
            land(tmp_path, SOURCE, _run_id(run_on), _run_date(run_on), _lines(table))
        database = ClaimsDatabase(tmp_path)

        current = database.query("current").rows
        assert [(r[2], r[3], _page_date(r[4]), r[5]) for r in current] == [expected]
        assert [(r[0], r[1]) for r in current] == [(SOURCE, GROUP)]
        assert current[0][6] == "1S00E00AA66"  # AB2D's MBI, from the EOB itself

        versions = {row[2]: row for row in database.query("versions").rows}
        for claim_id, updated, status in table:
            assert (versions[claim_id][3], _page_date(versions[claim_id][4])) == (status, updated)

    duplicates_view = database.query("duplicates").rows
    summary = database.summary()
    if example.startswith("duplicate"):
        (row,) = duplicates_view
        assert row[:3] == (SOURCE, GROUP, "12987987")
        assert (_page_date(row[3]), row[4], row[5]) == ("01/01/2020", 2, 1)
        assert [where.split("/")[4] for where in row[6]] == [_run_id("01/31/2020"), _run_id("02/28/2020")]
        assert (summary.records, summary.versions, summary.duplicates_dropped) == (2, 1, 1)
    else:
        assert duplicates_view == []
        assert summary.duplicates_dropped == 0
    assert (summary.families, summary.anomalies, summary.rejects) == (1, 0, 0)
