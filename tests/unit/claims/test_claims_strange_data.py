"""Where real data is stranger than the emulator's (issue #15, defects 1-6 and 8): each case through
the pure rules and through the views in DuckDB over Parquet files the curation wrote, which agree."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from claims import DirectoryOutputs, LandedFile, bounded_lines, curate_lines
from claims.extract import claim_version, patient_mbi
from claims.rules import resolve
from local.claims.query import ClaimsDatabase
from local.emulator.population import Beneficiary, Revision
from local.emulator.resources import dumps, patient
from tests.support.claims import BENE, ab2d_eob, land

SOURCE, GROUP = "src", "99995"
T0 = datetime(2026, 1, 10, 12, 0, 0, 123000, tzinfo=UTC)
RUN1, RUN2 = "20260201T000000.000Z-run001", "20260301T000000.000Z-run002"


def _stamped(line: bytes, last_updated: str | None) -> bytes:
    resource = json.loads(line)
    if last_updated is None:
        del resource["meta"]
    else:
        resource["meta"]["lastUpdated"] = last_updated
    return dumps(resource)


def _current(root: Path) -> list[tuple[object, ...]]:
    return (
        ClaimsDatabase(root)
        .connection.execute(
            "SELECT claim_group_id, claim_id, status, versions, anomaly, flags, mbi, historic_mbis FROM claims_current "
            "ORDER BY claim_group_id"
        )
        .fetchall()
    )


def _rules(lines_by_run: list[tuple[str, list[bytes]]]) -> list[tuple[object, ...]]:
    records = []
    for run, lines in lines_by_run:
        landed = LandedFile(SOURCE, run, f"{run[:4]}-{run[4:6]}-{run[6:8]}", "k", 1)
        records += [claim_version(json.loads(line), landed, number) for number, line in enumerate(lines, 1)]
    return [
        (group, f.current.claim_id, f.status, f.versions, f.anomaly, list(f.flags), f.mbi, list(f.historic_mbis))
        for (_, group), f in sorted(resolve(records).items())
    ]


def _both(tmp_path: Path, lines_by_run: list[tuple[str, list[bytes]]]) -> list[tuple[object, ...]]:
    """claims_current by the views, after checking that the pure rules say the same."""
    for run, lines in lines_by_run:
        land(tmp_path, SOURCE, run, f"{run[:4]}-{run[4:6]}-{run[6:8]}", lines)
    current = _current(tmp_path)
    assert current == _rules(lines_by_run)
    return current


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_timestamp_with_no_utc_moment_is_a_reject_and_the_file_still_lands(stamp: str, landed: LandedFile) -> None:
    # defect 1: OverflowError out of the instant parsing failed the whole file, in every later run
    bad = _stamped(ab2d_eob(GROUP, "1", "active", T0), stamp)
    report = curate_lines([bad, ab2d_eob(GROUP, "2", "active", T0)], landed, lambda _table: _NullSink())
    assert report.rows == {"claim_version_rows": 1, "rejects": 1}


@pytest.mark.parametrize("stamp", ["2020-W01-1", "20200101", "2020-01-01", "2020-01-01T00:00:00"])
def test_only_a_fhir_instant_is_a_last_updated(stamp: str, landed: LandedFile) -> None:
    # defect 5: fromisoformat read week dates and basic-format dates as moments
    report = curate_lines([_stamped(ab2d_eob(GROUP, "1", "active", T0), stamp)], landed, lambda _table: _NullSink())
    assert report.rows == {"rejects": 1}


def test_a_cancelled_copy_at_the_same_instant_is_a_new_state_not_a_duplicate(tmp_path: Path) -> None:
    # defect 2: matched on claim id + lastUpdated only, the cancellation was dropped as a duplicate
    runs = [(RUN1, [ab2d_eob(GROUP, "1", "active", T0)]), (RUN2, [ab2d_eob(GROUP, "1", "cancelled", T0)])]
    assert _both(tmp_path, runs) == [
        (GROUP, "1", "cancelled", 1, False, ["same-instant"], BENE.mbi, []),
    ]
    assert ClaimsDatabase(tmp_path).summary().duplicates_dropped == 0


def test_a_cancellation_stamped_a_fraction_of_a_millisecond_later_is_the_later_state(tmp_path: Path) -> None:
    # defect 2: lastUpdated cut to milliseconds made the two records one moment
    active = _stamped(ab2d_eob(GROUP, "1", "active", T0), "2026-01-10T12:00:00.1230001Z")
    cancelled = _stamped(ab2d_eob(GROUP, "1", "cancelled", T0), "2026-01-10T12:00:00.1238Z")
    assert _both(tmp_path, [(RUN1, [active]), (RUN2, [cancelled])]) == [
        (GROUP, "1", "cancelled", 1, False, [], BENE.mbi, []),
    ]
    versions = ClaimsDatabase(tmp_path).query("versions").rows
    assert [(row[3], row[4]) for row in versions] == [("cancelled", "2026-01-10T12:00:00.1238Z")]


def test_an_identical_copy_is_still_a_duplicate(tmp_path: Path) -> None:
    line = ab2d_eob(GROUP, "1", "active", T0)
    assert _both(tmp_path, [(RUN1, [line]), (RUN2, [line])]) == [(GROUP, "1", "active", 1, False, [], BENE.mbi, [])]
    assert ClaimsDatabase(tmp_path).summary().duplicates_dropped == 1


def test_a_newer_cancelled_version_cancels_the_family_over_an_older_active_one(tmp_path: Path) -> None:
    # defect 3: reported active (anomaly false) though the latest version is cancelled
    runs = [
        (RUN1, [ab2d_eob(GROUP, "321", "active", T0)]),
        (RUN2, [ab2d_eob(GROUP, "789", "cancelled", T0 + timedelta(days=30))]),  # 321's cancelled copy never came
    ]
    assert _both(tmp_path, runs) == [(GROUP, "789", "cancelled", 2, True, ["older-active"], BENE.mbi, [])]


def test_tied_cancelled_versions_compare_their_claim_ids_as_numbers(tmp_path: Path) -> None:
    # defect 4: '9' beat '10' compared as text
    lines = [ab2d_eob(GROUP, claim_id, "cancelled", T0) for claim_id in ("10", "9")]
    assert _both(tmp_path, [(RUN1, lines)]) == [(GROUP, "10", "cancelled", 2, False, [], BENE.mbi, [])]


def test_a_patient_record_naming_only_a_historic_mbi_keeps_it(tmp_path: Path) -> None:
    # defect 6: the newest Patient record had only a historic MBI, and claims_current lost it
    bene = Beneficiary(1, BENE.bene_id, "1S00E00AA66", None, T0, False, 0)
    resource = patient(bene, Revision("Patient", bene.bene_id, T0, 7), r4=True)
    for identifier in resource["identifier"]:
        for coding in identifier.get("type", {}).get("coding", []):
            for extension in coding.get("extension", []):
                extension["valueCoding"]["code"] = "historic"
    landed = LandedFile(SOURCE, RUN1, "2026-02-01", "k", 2)
    assert patient_mbi(resource, landed, 1)[2:4] == (None, ("1S00E00AA66",))
    bcda_eob = json.loads(ab2d_eob(GROUP, "1", "active", T0))
    del bcda_eob["extension"]  # BCDA's EOBs carry no MBI
    land(tmp_path, SOURCE, RUN1, "2026-02-01", [dumps(bcda_eob)])
    land(tmp_path, SOURCE, RUN1, "2026-02-01", [dumps(resource)], file_index=2)
    assert [row[6:] for row in _current(tmp_path)] == [(None, ["1S00E00AA66"])]


def test_claims_without_meta_are_ordered_by_the_exports_transaction_time(tmp_path: Path) -> None:
    # defect 8: a server that sends no meta (the SMART reference server) got no claims at all
    first = _stamped(ab2d_eob(GROUP, "1", "active", T0), None)
    cancelled = _stamped(ab2d_eob(GROUP, "1", "cancelled", T0), None)
    second = _stamped(ab2d_eob(GROUP, "2", "active", T0), None)
    exports = ((RUN1, "2026-02-01T00:00:00Z", [first]), (RUN2, "2026-03-01T00:00:00Z", [cancelled, second]))
    for run, time, lines in exports:
        key = f"fhir/{SOURCE}/ExplanationOfBenefit/{run}.ndjson.gz"
        landed = LandedFile(SOURCE, run, f"2026-0{run[5]}-01", key, 1, transaction_time=time)
        assert curate_lines(lines, landed, DirectoryOutputs(tmp_path, landed)).rejects == 0
    assert _current(tmp_path) == [(GROUP, "2", "active", 2, False, ["no-last-updated"], BENE.mbi, [])]
    versions = (
        ClaimsDatabase(tmp_path)
        .connection.execute(
            "SELECT claim_id, status, last_updated, CAST(last_updated_utc AS VARCHAR), updated_from "
            "FROM claim_versions ORDER BY claim_id"
        )
        .fetchall()
    )
    assert versions == [
        ("1", "cancelled", None, "2026-03-01 00:00:00", "transactionTime"),
        ("2", "active", None, "2026-03-01 00:00:00", "transactionTime"),
    ]


def test_without_a_transaction_time_the_runs_start_orders_them(landed: LandedFile) -> None:
    row = claim_version(json.loads(_stamped(ab2d_eob(GROUP, "1", "active", T0), None)), landed, 1)
    assert (row.last_updated, row.last_updated_utc, row.updated_from) == (
        None, datetime(2026, 6, 1, tzinfo=UTC), "runStart",
    )  # fmt: skip


def test_a_line_longer_than_the_bound_is_a_reject_and_the_next_lines_still_land(landed: LandedFile) -> None:
    # issue #14, item 10: a 1 GiB line needed three times that; bound it, reject it, go on
    good = ab2d_eob(GROUP, "1", "active", T0) + b"\n"
    stream = io.BytesIO(good + b'{"resourceType": "' + b"x" * 50_000 + b'"}\n' + good)
    read = list(bounded_lines(io.BufferedReader(stream, 4096), limit=10_000))  # type: ignore[arg-type]
    assert [len(item) if isinstance(item, bytes) else item.length for item in read] == [len(good), 50_021, len(good)]
    report = curate_lines(read, landed, lambda _table: _NullSink())
    assert report.rows == {"claim_version_rows": 2, "rejects": 1}


class _NullSink(io.BytesIO):
    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass
