"""`bulk-ingest claims` as a user runs it, on Parquet files the curation wrote from emulator data."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from claims import DirectoryOutputs, LandedFile, curate_lines
from local.claims import summary
from local.cli import main
from local.emulator.resources import deletion_bundle
from tests.support.claims import ab2d_eob, day, land, land_bcda_and_ab2d

RUN = "20260601T041233.705Z-abcdef"

CURRENT_KEYS = [
    "source", "claim_group_id", "claim_id", "status", "last_updated", "versions", "mbi", "historic_mbis",
    "patient", "claim_type", "anomaly", "flags",
]  # fmt: skip


@pytest.fixture(scope="module")
def bcda_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BCDA-like source (R4 EOBs, MBIs on Patient, one historic) and an AB2D-like one."""
    return land_bcda_and_ab2d(tmp_path_factory.mktemp("out"))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["claims", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ndjson_current_has_exactly_the_documented_keys_and_bcda_mbis_come_from_patient(
    bcda_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "--out", str(bcda_root), "--source", "local-bcda", "--format", "ndjson")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and all(list(row) == CURRENT_KEYS for row in rows)
    assert {row["source"] for row in rows} == {"local-bcda"}
    assert {row["status"] for row in rows} == {"active", "cancelled"}
    assert all(row["mbi"] and len(row["mbi"]) == 11 for row in rows)  # reached through eob.patient
    assert any(row["historic_mbis"] for row in rows) and all(isinstance(r["historic_mbis"], list) for r in rows)
    assert err.startswith("bulk-ingest claims: claims: ") and "0 rejects" in err


def test_group_filter_table_and_csv(bcda_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--out", str(bcda_root), "--group", "99995")
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == CURRENT_KEYS
    assert row.split()[:4] == ["local-ab2d", "99995", "12987987", "active"]

    code, out, _ = _run(capsys, "--out", str(bcda_root), "--view", "versions", "--format", "csv", "--group", "99995")
    (parsed,) = list(csv.DictReader(io.StringIO(out)))
    assert (parsed["claim_id"], parsed["records"], parsed["line"]) == ("12987987", "1", "1")


def test_state_dir_reads_the_bucket_mirror_under_objects(
    bcda_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "objects").symlink_to(bcda_root, target_is_directory=True)
    code, from_state_dir, _ = _run(capsys, "--state-dir", str(tmp_path), "--format", "csv")
    assert code == 0
    assert from_state_dir == _run(capsys, "--out", str(bcda_root), "--format", "csv")[1]
    assert len(from_state_dir.splitlines()) > 100


def test_nothing_curated_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--out", str(tmp_path))
    assert (code, out) == (1, "")
    assert f"no curated claims under {tmp_path}/curated/" in err and "local-run" in err


def test_an_unknown_source_names_the_known_ones(bcda_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--out", str(bcda_root), "--source", "nope")
    assert code == 1
    assert "sources: local-ab2d, local-bcda" in err


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["claims", "--view", "everything"])
    assert exited.value.code == 2


def test_a_smart_servers_deletion_shows_as_a_cancelled_claim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a SMART source: a claim landed by one run, deleted (the deleted file's Bundle) by the next
    land(tmp_path, "local-smart", RUN, "2026-06-01", [ab2d_eob("g1", "11", "active", day("01/01/2026"))])
    later = "20260701T041233.705Z-abcdef"
    key = f"deleted/local-smart/Bundle/run_date=2026-07-01/{later}/Bundle-0001.ndjson.gz"
    deleted = LandedFile("local-smart", later, "2026-07-01", key, 2)
    curate_lines([deletion_bundle("ExplanationOfBenefit", "pde-11")], deleted, DirectoryOutputs(tmp_path, deleted))

    # When the user asks for the current claims
    code, out, err = _run(capsys, "--out", str(tmp_path), "--format", "ndjson")

    # Then the family is cancelled, its version and date as landed
    assert code == 0
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert (row["claim_group_id"], row["claim_id"], row["status"], row["versions"]) == ("g1", "11", "cancelled", 1)
    assert "1 families (0 active, 1 cancelled" in err


def test_the_claims_line_of_a_source_whose_every_line_was_rejected_names_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue #15 defect 8: the run's line said only "claims: none curated for this source"
    no_group = json.loads(ab2d_eob("1", "2", "active", day("01/01/2020")))
    no_group["identifier"] = [i for i in no_group["identifier"] if "claim-group" not in i["system"]]
    land(tmp_path, "refused", RUN, "2026-06-01", [json.dumps(no_group).encode()] * 3)
    assert summary.main([str(tmp_path), "refused"]) == 0
    assert capsys.readouterr().out.strip() == (
        "claims: 0 versions seen (0 distinct), 0 families (0 active, 0 cancelled, 0 anomalies), 0 duplicates "
        'dropped, 3 rejects (most often, 3 times: "ExplanationOfBenefit pde… has no claim-group identifier"), '
        "0 deletions"
    )


def test_the_duplicates_table_fits_80_columns_with_each_copys_place_beneath_its_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one claim version landed twice (a full re-pull), by two runs
    eob = ab2d_eob("g1", "11", "active", day("01/01/2026"))
    later = "20260701T041233.705Z-abcdef"
    land(tmp_path, "local-bcda", RUN, "2026-06-01", [eob])
    land(tmp_path, "local-bcda", later, "2026-07-01", [eob])

    # When the user lists the duplicates as a table
    code, out, _ = _run(capsys, "--out", str(tmp_path), "--view", "duplicates")

    # Then every line fits a terminal of 80 columns, and the places follow their row, from the run id on
    assert code == 0
    header, row, *places = out.splitlines()
    assert header.split() == ["claim_group_id", "claim_id", "last_updated", "copies", "dropped"]
    assert row.split()[:2] == ["g1", "11"] and row.split()[-2:] == ["2", "1"]
    assert places == [
        f"    local-bcda: {RUN}/ExplanationOfBenefit-0001#1",
        f"    local-bcda: {later}/ExplanationOfBenefit-0001#1",
    ]
    assert max(len(line) for line in out.splitlines()) <= 80
    # csv keeps every column and the whole key
    _, csv_out, _ = _run(capsys, "--out", str(tmp_path), "--view", "duplicates", "--format", "csv")
    (parsed,) = list(csv.DictReader(io.StringIO(csv_out)))
    assert parsed["source"] == "local-bcda"
    assert parsed["seen_at"].split(";")[0] == (
        f"fhir/local-bcda/ExplanationOfBenefit/run_date=2026-06-01/{RUN}/ExplanationOfBenefit-0001.ndjson.gz#1"
    )
