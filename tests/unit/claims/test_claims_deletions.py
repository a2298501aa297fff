"""A deletion is a cancellation: a SMART server deletes a cancelled claim and lists it in a `_since`
export's deleted files, where BFD re-sends it `cancelled`. The same story through the pure rules and
through the views in DuckDB over the curated Parquet files, which must agree."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from claims import LandedFile
from claims.extract import claim_version, deleted_resources
from claims.rows import ClaimVersion, DeletedResource
from claims.rules import resolve, version_states
from local.claims.query import ClaimsDatabase
from local.emulator.resources import deletion_bundle
from tests.support.claims import ab2d_eob, land
from tests.unit.claims.conftest import land_deleted

SOURCE = "smart"
T0 = datetime(2026, 1, 10, tzinfo=UTC)


@dataclass(frozen=True)
class Export:
    """One run: the EOBs it delivered (group, claim id, status, days after T0) and the EOB ids it
    listed as deleted (the emulator's ids: pde-<claim id>)."""

    eobs: list[tuple[str, str, str, int]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    other_deleted: list[tuple[str, str]] = field(default_factory=list)  # (resource type, id)


def _run_id(number: int) -> str:
    return f"202602{number:02d}T000000.000Z-smart{number}"


def _run_date(number: int) -> str:
    return f"2026-02-{number:02d}"


def _lines(export: Export) -> tuple[list[bytes], list[bytes]]:
    eobs = [ab2d_eob(group, claim, status, T0 + timedelta(days=days)) for group, claim, status, days in export.eobs]
    deleted = [deletion_bundle("ExplanationOfBenefit", f"pde-{claim}") for claim in export.deleted]
    deleted += [deletion_bundle(kind, resource_id) for kind, resource_id in export.other_deleted]
    return eobs, deleted


def _through_the_rules(exports: list[Export]) -> tuple[dict[str, str], dict[str, tuple[str, str, int]]]:
    """(claim id -> version status, group -> (current claim id, family status, versions))."""
    records: list[ClaimVersion] = []
    deletions: list[DeletedResource] = []
    for number, export in enumerate(exports, start=1):
        eobs, deleted = _lines(export)
        landed = LandedFile(SOURCE, _run_id(number), _run_date(number), f"eob-{number}", 1)
        records += [claim_version(json.loads(line), landed, index) for index, line in enumerate(eobs, 1)]
        landed = LandedFile(SOURCE, _run_id(number), _run_date(number), f"deleted-{number}", 2)
        for index, line in enumerate(deleted, 1):
            deletions += [
                d for d in deleted_resources(json.loads(line), landed, index) if isinstance(d, DeletedResource)
            ]
    states = {key[2]: version.status for key, version in version_states(records, deletions).items()}
    families = {
        group: (family.current.claim_id, family.status, family.versions)
        for (_, group), family in resolve(records, deletions).items()
    }
    return states, families


def _through_the_views(exports: list[Export], root: Path) -> tuple[dict[str, str], dict[str, tuple[str, str, int]]]:
    for number, export in enumerate(exports, start=1):
        eobs, deleted = _lines(export)
        if eobs:
            land(root, SOURCE, _run_id(number), _run_date(number), eobs, 1)
        if deleted:
            land_deleted(root, SOURCE, _run_id(number), _run_date(number), deleted, 2)
    database = ClaimsDatabase(root)
    states = {row[2]: row[3] for row in database.query("versions").rows}
    families = {row[1]: (row[2], row[3], row[5]) for row in database.query("current").rows}
    return states, families


SCENARIOS: dict[str, tuple[list[Export], dict[str, str], dict[str, tuple[str, str, int]]]] = {
    "an adjusted claim: the old version deleted, the new one current": (
        [Export([("g", "1", "active", 0)]), Export([("g", "2", "active", 20)], deleted=["1"])],
        {"1": "cancelled", "2": "active"},
        {"g": ("2", "active", 2)},
    ),
    "a family whose every version is deleted is cancelled, the version updated last current": (
        [
            Export([("g", "1", "active", 0)]),
            Export([("g", "2", "active", 20)], deleted=["1"]),
            Export(deleted=["2"]),
        ],
        {"1": "cancelled", "2": "cancelled"},
        {"g": ("2", "cancelled", 2)},
    ),
    "a deletion in the same run as the record wins": (
        [Export([("g", "1", "active", 0)], deleted=["1"])],
        {"1": "cancelled"},
        {"g": ("1", "cancelled", 1)},
    ),
    "a record received after the deletion brings the version back": (
        [
            Export([("g", "1", "active", 0)]),
            Export(deleted=["1"]),
            Export([("g", "1", "active", 0)]),  # the same record again (a duplicate), but later
        ],
        {"1": "active"},
        {"g": ("1", "active", 1)},
    ),
    "a deletion older than the version's latest record does not cancel it": (
        [Export(deleted=["1"]), Export([("g", "1", "active", 0)])],
        {"1": "active"},
        {"g": ("1", "active", 1)},
    ),
    "only an ExplanationOfBenefit deletion of that id cancels; an unknown id adds nothing": (
        [
            Export([("g", "1", "active", 0), ("h", "5", "active", 1)]),
            Export(deleted=["404"], other_deleted=[("Patient", "pde-1"), ("Claim", "pde-5")]),
        ],
        {"1": "active", "5": "active"},
        {"g": ("1", "active", 1), "h": ("5", "active", 1)},
    ),
    "a version cancelled in the data stays cancelled whatever the deletions": (
        [Export([("g", "1", "cancelled", 0), ("g", "2", "active", 0)]), Export(deleted=["2"])],
        {"1": "cancelled", "2": "cancelled"},
        {"g": ("2", "cancelled", 2)},  # the same lastUpdated: the larger claim id
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_deletions_through_the_rules_and_the_views(scenario: str, tmp_path: Path) -> None:
    exports, states, families = SCENARIOS[scenario]
    assert _through_the_rules(exports) == (states, families)
    assert _through_the_views(exports, tmp_path) == (states, families)


def test_a_deletion_of_another_source_cancels_nothing(tmp_path: Path) -> None:
    land(tmp_path, SOURCE, _run_id(1), _run_date(1), [ab2d_eob("g", "1", "active", T0)])
    land_deleted(tmp_path, "other", _run_id(2), _run_date(2), [deletion_bundle("ExplanationOfBenefit", "pde-1")])
    database = ClaimsDatabase(tmp_path)
    assert [row[:4] for row in database.query("current").rows] == [(SOURCE, "g", "1", "active")]
    assert database.summary(SOURCE).cancelled == 0


def test_the_summary_counts_a_deleted_family_as_cancelled(tmp_path: Path) -> None:
    land(
        tmp_path, SOURCE, _run_id(1), _run_date(1), [ab2d_eob("g", "1", "active", T0), ab2d_eob("h", "2", "active", T0)]
    )
    land_deleted(tmp_path, SOURCE, _run_id(2), _run_date(2), [deletion_bundle("ExplanationOfBenefit", "pde-2")])
    summary = ClaimsDatabase(tmp_path).summary(SOURCE)
    assert (summary.families, summary.active, summary.cancelled, summary.rejects) == (2, 1, 1, 0)
