"""Random populations from the emulator, landed over several months of incremental exports:
claims_current equals the pure rules' truth, whatever order the rows come in and however often
a file is landed again. Two shapes: BFD's (a cancelled claim re-sent `cancelled`) and a SMART
server's (a cancelled claim deleted, and listed in the `_since` export's deleted files)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from claims import LandedFile
from claims.extract import claim_version, deleted_resources
from claims.rows import ClaimVersion, DeletedResource
from claims.rules import Family, resolve, version_states
from local.claims.query import ClaimsDatabase
from local.emulator.config import DEFAULT_DATA_LOAD_TIME
from local.emulator.population import Population
from local.emulator.render import render
from local.emulator.resources import deletion_bundle
from tests.support.claims import land
from tests.unit.claims.conftest import land_deleted

Row = tuple[object, ...]


@dataclass(frozen=True)
class Export:
    lines: list[bytes]  # the EOB output
    deleted: list[bytes]  # the deleted file's Bundles


def _monthly_exports(seed: int, patients: int, months: int, smart: bool = False) -> list[Export]:
    """Each month's incremental EOB export (_since = the previous load), the first one full.

    ``smart``: as the emulator's SMART flavour serves it (local/emulator/exports.py): no cancelled
    EOB in the output, and those cancelled since the last export listed as deleted."""
    population = Population(seed, patients, DEFAULT_DATA_LOAD_TIME)
    exports, since = [], None
    for month in range(months):
        if month:
            population.advance(population.load_time + timedelta(days=30), population.load_time)
        until = population.load_time
        revisions = [
            (bene, revision)
            for bene in population.group("all", month)
            for revision in population.view(bene, "ExplanationOfBenefit", until, since)
        ]
        if smart:
            lines = [render(b, r, r4=True) for b, r in revisions if r.status != "cancelled"]
            gone = [r.id for _, r in revisions if r.status == "cancelled"] if since is not None else []
            exports.append(Export(lines, [deletion_bundle("ExplanationOfBenefit", id_) for id_ in gone]))
        else:
            exports.append(Export([render(b, r, r4=True) for b, r in revisions], []))
        since = until
    return exports


def _run_id(month: int) -> str:
    return f"2026{month + 1:02d}01T000000.000Z-prop{month:02d}"


def _landed(exports: list[Export]) -> tuple[list[ClaimVersion], list[DeletedResource]]:
    records: list[ClaimVersion] = []
    deletions: list[DeletedResource] = []
    for month, export in enumerate(exports):
        landed = LandedFile("rand", _run_id(month), f"2026-{month + 1:02d}-01", "k", 1)
        records += [claim_version(json.loads(line), landed, number) for number, line in enumerate(export.lines, 1)]
        for number, line in enumerate(export.deleted, 1):
            found = deleted_resources(json.loads(line), landed, number)
            deletions += [row for row in found if isinstance(row, DeletedResource)]
    return records, deletions


def _families(exports: list[Export]) -> dict[tuple[str, str], Family[ClaimVersion]]:
    return resolve(*_landed(exports))


def _truth(exports: list[Export]) -> tuple[list[Row], list[Row]]:
    """(claims_current's rows, claim_versions' statuses) by the pure rules."""
    records, deletions = _landed(exports)
    families = sorted(
        (source, group, f.current.claim_id, f.status, f.current.last_updated, f.versions, f.anomaly)
        for (source, group), f in resolve(records, deletions).items()
    )
    versions = sorted((*key, state.status) for key, state in version_states(records, deletions).items())
    return families, versions


def _views(root: Path) -> tuple[list[Row], list[Row]]:
    database = ClaimsDatabase(root)
    current = database.connection.execute(
        "SELECT source, claim_group_id, claim_id, status, last_updated, versions, anomaly FROM claims_current"
    ).fetchall()
    versions = database.connection.execute("SELECT source, claim_group_id, claim_id, status FROM claim_versions")
    return sorted(current), sorted(versions.fetchall())


def _land(root: Path, run_id: str, run_date: str, export: Export, index: int = 1) -> None:
    land(root, "rand", run_id, run_date, export.lines, index)
    if export.deleted:
        land_deleted(root, "rand", run_id, run_date, export.deleted, 1000 + index)


def _assert_views_equal(truth: tuple[list[Row], list[Row]], exports: list[Export], seed: int, tmp_path: Path) -> None:
    for month, export in enumerate(exports):
        _land(tmp_path / "in-order", _run_id(month), f"2026-{month + 1:02d}-01", export)
    assert _views(tmp_path / "in-order") == truth

    rng = random.Random(seed)
    for month, export in enumerate(exports):
        run_date = f"2026-{month + 1:02d}-01"
        shuffled = Export(rng.sample(export.lines, len(export.lines)), rng.sample(export.deleted, len(export.deleted)))
        for index, start in enumerate(range(0, max(len(shuffled.lines), len(shuffled.deleted)), 50), start=1):
            chunk = Export(shuffled.lines[start : start + 50], shuffled.deleted[start : start + 50])
            _land(tmp_path / "shuffled", _run_id(month), run_date, chunk, index)
            if rng.random() < 0.5:  # a retried curation of the same file
                _land(tmp_path / "shuffled", _run_id(month), run_date, chunk, index)
        # and the month's export landed once more by a later run (an overlapping _since)
        later = f"2026{month + 1:02d}15T000000.000Z-again{month:02d}"
        _land(
            tmp_path / "shuffled",
            later,
            f"2026-{month + 1:02d}-15",
            Export(rng.sample(export.lines, len(export.lines)), export.deleted),
        )
    assert _views(tmp_path / "shuffled") == truth
    summary = ClaimsDatabase(tmp_path / "shuffled").summary()
    assert summary.duplicates_dropped == sum(len(export.lines) for export in exports)


@pytest.mark.parametrize("seed", [1, 2])
def test_claims_current_is_the_rules_truth_whatever_the_order_and_repeats(seed: int, tmp_path: Path) -> None:
    exports = _monthly_exports(seed, patients=40, months=3)
    truth = _truth(exports)
    assert any(row[3] == "cancelled" for row in truth[0]) and any(row[5] > 1 for row in truth[0])
    _assert_views_equal(truth, exports, seed, tmp_path)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_smart_servers_deletions_resolve_like_bfds_cancellations(seed: int, tmp_path: Path) -> None:
    smart = _monthly_exports(seed, patients=40, months=3, smart=True)
    truth = _truth(smart)
    # versions seen and then deleted, superseded by a newer one (the emulator never cancels a whole
    # family across exports: test_claims_deletions.py does)
    assert any(state.deleted for state in version_states(*_landed(smart)).values())
    assert any(row[3] == "active" and row[5] > 1 for row in truth[0])
    _assert_views_equal(truth, smart, seed, tmp_path)

    # The same history as BFD tells it: every family the SMART server let us see has BFD's status
    # and anomaly flag, and an active one BFD's current version. (A family cancelled before it was
    # ever exported is BFD's alone; a cancelled one's versions and dates differ: a deletion carries
    # no lastUpdated.)
    bfd = _families(_monthly_exports(seed, patients=40, months=3))
    for key, family in _families(smart).items():
        assert (family.status, family.anomaly) == (bfd[key].status, bfd[key].anomaly), key
        if family.status == "active":
            assert family.current.claim_id == bfd[key].current.claim_id, key
