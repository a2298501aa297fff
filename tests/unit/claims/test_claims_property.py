"""Random populations from the emulator, landed over several months of incremental exports:
claims_current and claim_versions equal the pure rules' truth, whatever order the rows come in and
however often a file is landed again. Three shapes of the same history: BCDA's (a cancelled claim
re-sent `cancelled`, MBIs on Patient), AB2D's (MBIs on every EOB) and a SMART server's (a cancelled
claim deleted, and listed in the `_since` export's deleted files). Some beneficiaries' MBIs change
in the second or third month."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import pytest

from claims import LandedFile
from claims.extract import claim_version, deleted_resources, patient_mbi
from claims.rows import ClaimVersion, DeletedResource, PatientMbi
from claims.rules import Family, resolve, version_states
from local.claims.query import ClaimsDatabase
from local.emulator.config import DEFAULT_DATA_LOAD_TIME
from local.emulator.population import Beneficiary, Population, Revision
from local.emulator.render import render
from local.emulator.resources import deletion_bundle
from resolve import DirectoryStore, resolve_source
from tests.support.claims import land
from tests.unit.claims.conftest import ab2d_line, land_deleted

Row = tuple[object, ...]
MONTHS = 3


@dataclass(frozen=True)
class Export:
    lines: list[bytes]  # the EOB output
    deleted: list[bytes] = field(default_factory=list)  # the deleted file's Bundles
    patients: list[bytes] = field(default_factory=list)  # the Patient output


def _as_of(seed: int, bene: Beneficiary, month: int) -> Beneficiary:
    """One beneficiary in five gets a new MBI in the second or third month (the old one historic)."""
    rng = random.Random(f"mbi:{seed}:{bene.index}")
    changes, month_of_change = rng.random() < 0.2, rng.randint(1, MONTHS - 1)
    if not changes or month < month_of_change:
        return bene
    return replace(bene, mbi=f"N{seed:02d}{bene.index:08d}", historic_mbi=bene.mbi)


def _monthly_exports(seed: int, patients: int, shape: str) -> list[Export]:
    """Each month's incremental export (_since = the previous load), the first one full.

    ``bcda``: R4 EOBs without MBIs, and the Patients loaded since (a Patient re-loaded with its new
    MBI). ``ab2d``: EOBs with the beneficiary's MBIs as of the export. ``smart``: as the emulator's
    SMART flavour serves it (local/emulator/exports.py): no cancelled EOB in the output, and those
    cancelled since the last export listed as deleted."""
    population = Population(seed, patients, DEFAULT_DATA_LOAD_TIME)
    exports, since = [], None
    for month in range(MONTHS):
        if month:
            population.advance(population.load_time + timedelta(days=30), population.load_time)
        until = population.load_time
        members = [(_as_of(seed, bene, month), bene) for bene in population.group("all", month)]
        revisions = [
            (now, revision)
            for now, bene in members
            for revision in population.view(bene, "ExplanationOfBenefit", until, since)
        ]
        if shape == "smart":
            lines = [render(b, r, r4=True) for b, r in revisions if r.status != "cancelled"]
            gone = [r.id for _, r in revisions if r.status == "cancelled"] if since is not None else []
            exports.append(Export(lines, [deletion_bundle("ExplanationOfBenefit", id_) for id_ in gone]))
        elif shape == "ab2d":
            exports.append(Export([ab2d_line(b, r) for b, r in revisions]))
        else:
            people = [(now, r) for now, bene in members for r in population.view(bene, "Patient", until, since)]
            # BCDA re-sends the Patient of a changed MBI, loaded since the last export
            changed = [now for now, bene in members if month and now != _as_of(seed, bene, month - 1)]
            people += [(now, Revision("Patient", now.bene_id, until - timedelta(days=1), month)) for now in changed]
            eobs = [render(b, r, r4=True) for b, r in revisions]
            exports.append(Export(eobs, patients=[render(b, r, r4=True) for b, r in people]))
        since = until
    return exports


def _run_id(month: int) -> str:
    return f"2026{month + 1:02d}01T000000.000Z-prop{month:02d}"


def _landed(exports: list[Export]) -> tuple[list[ClaimVersion], list[DeletedResource], list[PatientMbi]]:
    records: list[ClaimVersion] = []
    deletions: list[DeletedResource] = []
    people: list[PatientMbi] = []
    for month, export in enumerate(exports):
        landed = LandedFile("rand", _run_id(month), f"2026-{month + 1:02d}-01", "k", 1)
        records += [claim_version(json.loads(line), landed, number) for number, line in enumerate(export.lines, 1)]
        people += [patient_mbi(json.loads(line), landed, number) for number, line in enumerate(export.patients, 1)]
        for number, line in enumerate(export.deleted, 1):
            found = deleted_resources(json.loads(line), landed, number)
            deletions += [row for row in found if isinstance(row, DeletedResource)]
    return records, deletions, people


def _families(exports: list[Export]) -> dict[tuple[str, str], Family[ClaimVersion]]:
    return resolve(*_landed(exports))


def _truth(exports: list[Export]) -> tuple[list[Row], list[Row]]:
    """(claims_current's rows, claim_versions' statuses) by the pure rules."""
    records, deletions, _ = _landed(exports)
    families = sorted(
        (source, group, f.current.claim_id, f.status, f.current.last_updated, f.versions, f.anomaly, *mbis)
        for (source, group), f in _families(exports).items()
        for mbis in [(f.mbi, list(f.historic_mbis))]
    )
    versions = sorted((*key, state.status) for key, state in version_states(records, deletions).items())
    return families, versions


def _views(root: Path) -> tuple[list[Row], list[Row]]:
    database = ClaimsDatabase(root)
    current = database.connection.execute(
        "SELECT source, claim_group_id, claim_id, status, last_updated, versions, anomaly, mbi, historic_mbis "
        "FROM claims_current"
    ).fetchall()
    versions = database.connection.execute("SELECT source, claim_group_id, claim_id, status FROM claim_versions")
    return sorted(current), sorted(versions.fetchall())


def _assert_the_snapshot_is_history_after(root: Path, month: int) -> None:
    """Resolve what was curated since the last snapshot (resolve.build, as the Resolve claims step
    does after each run): its tables equal the history views over every curated file."""
    report = resolve_source(DirectoryStore(root), "rand", root.parent / "work", f"g{month}")
    assert report.mode == ("full" if month == 0 else "incremental")
    assert report.removed_generations == (1 if month >= 2 else 0)  # the current and the previous are kept
    resolved, history = ClaimsDatabase(root), ClaimsDatabase(root, snapshots=False)
    for table in ("claims_current", "claim_versions", "patients_current"):
        query = f"SELECT * FROM {table} ORDER BY ALL"
        assert resolved.connection.execute(query).fetchall() == history.connection.execute(query).fetchall(), table
    plan = resolved.connection.execute("EXPLAIN SELECT * FROM claims_current").fetchall()
    assert "READ_PARQUET" in str(plan).upper() and "WINDOW" not in str(plan).upper()  # the snapshot, not history


def _land(root: Path, run_id: str, run_date: str, export: Export, index: int = 1) -> None:
    land(root, "rand", run_id, run_date, export.lines, index)
    if export.deleted:
        land_deleted(root, "rand", run_id, run_date, export.deleted, 1000 + index)
    if export.patients:
        land(root, "rand", run_id, run_date, export.patients, 2000 + index)


def _assert_views_equal(truth: tuple[list[Row], list[Row]], exports: list[Export], seed: int, tmp_path: Path) -> None:
    for month, export in enumerate(exports):
        _land(tmp_path / "in-order", _run_id(month), f"2026-{month + 1:02d}-01", export)
    assert _views(tmp_path / "in-order") == truth

    rng = random.Random(seed)
    for month, export in enumerate(exports):
        run_date = f"2026-{month + 1:02d}-01"
        shuffled = Export(*(rng.sample(lines, len(lines)) for lines in (export.lines, export.deleted, export.patients)))
        longest = max(len(shuffled.lines), len(shuffled.deleted), len(shuffled.patients))
        for index, start in enumerate(range(0, longest, 50), start=1):
            part = slice(start, start + 50)
            chunk = Export(shuffled.lines[part], shuffled.deleted[part], shuffled.patients[part])
            _land(tmp_path / "shuffled", _run_id(month), run_date, chunk, index)
            if rng.random() < 0.5:  # a retried curation of the same file
                _land(tmp_path / "shuffled", _run_id(month), run_date, chunk, index)
        # and the month's export landed once more by a later run (an overlapping _since)
        later = f"2026{month + 1:02d}15T000000.000Z-again{month:02d}"
        _land(
            tmp_path / "shuffled",
            later,
            f"2026-{month + 1:02d}-15",
            Export(rng.sample(export.lines, len(export.lines)), export.deleted, export.patients),
        )
        _assert_the_snapshot_is_history_after(tmp_path / "shuffled", month)
    assert _views(tmp_path / "shuffled") == truth
    summary = ClaimsDatabase(tmp_path / "shuffled").summary()
    assert summary.duplicates_dropped == sum(len(export.lines) for export in exports)


@pytest.mark.parametrize("shape", ["bcda", "ab2d"])
@pytest.mark.parametrize("seed", [1, 2])
def test_claims_current_is_the_rules_truth_whatever_the_order_and_repeats(
    seed: int, shape: str, tmp_path: Path
) -> None:
    exports = _monthly_exports(seed, patients=40, shape=shape)
    truth = _truth(exports)
    assert any(row[3] == "cancelled" for row in truth[0]) and any(row[5] > 1 for row in truth[0])
    # families whose current version landed in the first month, before any MBI changed, show their
    # patient's new MBI (N...) with the old one historic (the one on their own EOB, for AB2D)
    changed = [f for f in _families(exports).values() if f.mbi and f.mbi.startswith("N")]
    old = [f for f in changed if f.current.run_id == _run_id(0)]
    assert old and all(f.historic_mbis for f in changed)
    assert all(f.current.mbi in f.historic_mbis if shape == "ab2d" else f.current.mbi is None for f in old)
    _assert_views_equal(truth, exports, seed, tmp_path)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_smart_servers_deletions_resolve_like_bfds_cancellations(seed: int, tmp_path: Path) -> None:
    smart = _monthly_exports(seed, patients=40, shape="smart")
    truth = _truth(smart)
    # versions seen and then deleted, superseded by a newer one (the emulator never cancels a whole
    # family across exports: test_claims_deletions.py does)
    assert any(state.deleted for state in version_states(*_landed(smart)[:2]).values())
    assert any(row[3] == "active" and row[5] > 1 for row in truth[0])
    _assert_views_equal(truth, smart, seed, tmp_path)

    # The same history as BFD tells it: every family the SMART server let us see has BFD's status
    # and anomaly flag, and an active one BFD's current version. (A family cancelled before it was
    # ever exported is BFD's alone; a cancelled one's versions and dates differ: a deletion carries
    # no lastUpdated.)
    bfd = _families(_monthly_exports(seed, patients=40, shape="bcda"))
    for key, family in _families(smart).items():
        assert (family.status, family.anomaly) == (bfd[key].status, bfd[key].anomaly), key
        if family.status == "active":
            assert family.current.claim_id == bfd[key].current.claim_id, key
