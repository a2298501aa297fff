"""Every shape the CMS sources send (as the emulator builds them) -> the curated rows, and every
kind of bad line -> a reject with its object key and line number."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from claims import DirectoryOutputs, LandedFile, curate_lines
from claims.extract import claim_version, partial_claim, patient_mbi
from claims.jsonparse import content_digest
from claims.rows import ClaimVersion, Reject
from local.emulator.claims import eob
from local.emulator.claims import partial_claim as emulator_partial_claim
from local.emulator.population import Revision
from local.emulator.resources import dumps, patient
from tests.unit.claims.conftest import LOADED, bene, revision

EXPECTED_INSTANT = "2026-03-04T05:06:07.890+00:00"  # BFD's style, as the emulator writes it
LOADED_US = int(LOADED.timestamp()) * 1_000_000 + LOADED.microsecond


@pytest.mark.parametrize("r4", [False, True], ids=["STU3 (v1)", "R4 (v2-v3)"])
def test_a_bcda_eob_gives_its_claim_version_row(r4: bool, landed: LandedFile) -> None:
    resource = eob(bene(), revision(), r4)
    row = claim_version(resource, landed, 7)
    assert row == ClaimVersion(
        source="src", claim_group_id="777", claim_id="9991831999", status="active",
        last_updated=EXPECTED_INSTANT, last_updated_utc=LOADED, updated_us=LOADED_US, updated_from="lastUpdated",
        content_digest=content_digest(resource), claim_type="CARRIER",
        service_start="2026-02-01", service_end="2026-02-01", patient="-10000000000066",
        mbi=None, historic_mbis=(),  # BCDA carries MBIs on Patient, not on the EOB
        resource_id="carrier-9991831999", run_id=landed.run_id, object_key=landed.object_key, line=7,
    )  # fmt: skip


def test_an_ab2d_eob_carries_its_current_mbi_in_the_extension(landed: LandedFile) -> None:
    resource = eob(bene(), revision(), r4=True, mbi_extension=True)
    row = claim_version(resource, landed, 1)
    assert (row.mbi, row.historic_mbis) == ("1S00E00AA66", ())


def test_ab2d_historic_mbis_are_kept_apart_from_the_current_one(landed: LandedFile) -> None:
    resource = eob(bene(), revision(), r4=True, mbi_extension=True)
    historic = json.loads(json.dumps(resource["extension"][0]))
    historic["valueIdentifier"]["value"] = "9AA9AA9AA99"
    historic["valueIdentifier"]["extension"][0]["valueCoding"]["code"] = "historic"
    resource["extension"].insert(0, historic)  # order must not matter
    row = claim_version(resource, landed, 1)
    assert (row.mbi, row.historic_mbis) == ("1S00E00AA66", ("9AA9AA9AA99",))


def test_a_part_d_event_is_keyed_by_pde_id(landed: LandedFile) -> None:
    row = claim_version(eob(bene(), revision("pde"), r4=True), landed, 1)
    assert (row.claim_id, row.claim_group_id, row.claim_type) == ("9991831999", "777", "PDE")


def test_a_cancelled_version_keeps_its_status_as_in_the_data(landed: LandedFile) -> None:
    row = claim_version(eob(bene(), revision(status="cancelled"), r4=False), landed, 1)
    assert row.status == "cancelled"


def test_without_eob_type_coding_the_claim_type_comes_from_the_id_and_dates_from_the_items(
    landed: LandedFile,
) -> None:
    resource = eob(bene(), revision("outpatient"), r4=True)
    resource["type"]["coding"] = [c for c in resource["type"]["coding"] if "eob-type" not in c["system"]]
    del resource["billablePeriod"]
    resource["item"] = [
        {"servicedDate": "2026-01-09"},
        {"servicedPeriod": {"start": "2026-01-02", "end": "2026-01-05"}},
    ]
    row = claim_version(resource, landed, 1)
    assert (row.claim_type, row.service_start, row.service_end) == ("OUTPATIENT", "2026-01-02", "2026-01-09")


@pytest.mark.parametrize("r4", [False, True], ids=["STU3: currency on identifier.extension", "R4: on type.coding"])
def test_a_bcda_patient_gives_its_current_and_historic_mbis(r4: bool, landed: LandedFile) -> None:
    row = patient_mbi(patient(bene(), revision(kind="Patient"), r4), landed, 4)
    assert (row.patient_id, row.mbi, row.historic_mbis) == ("-10000000000066", "1S00E00AA66", ("7HA2AA0AA00",))
    assert (row.last_updated, row.last_updated_utc, row.line) == (EXPECTED_INSTANT, LOADED, 4)


def test_a_patient_without_historic_mbi(landed: LandedFile) -> None:
    row = patient_mbi(patient(bene(historic=None), revision(kind="Patient"), True), landed, 1)
    assert (row.mbi, row.historic_mbis) == ("1S00E00AA66", ())


@pytest.mark.parametrize("kind", ["Claim", "ClaimResponse"])
def test_bcda_v2_partially_adjudicated_claims(kind: str, landed: LandedFile) -> None:
    rev = Revision(kind, "f-1234567", LOADED, 5, "active", "f", "f-1234567", "", LOADED.date())
    row = partial_claim(emulator_partial_claim(bene(), rev, response=kind == "ClaimResponse"), landed, 2)
    assert (row.resource_type, row.resource_id, row.claim_id, row.patient) == (
        kind,
        "f-1234567",
        "f-1234567",
        "-10000000000066",
    )
    assert row.claim_id_system == "https://bluebutton.cms.gov/fhir/sid/fiss-claim-id"
    if kind == "ClaimResponse":
        assert (row.outcome, row.request, row.service_start) == ("partial", "f-1234567", None)
    else:
        assert (row.outcome, row.request, row.service_start) == (None, None, LOADED.date().isoformat())


def test_offsets_are_normalised_to_utc_for_ordering(landed: LandedFile) -> None:
    resource = eob(bene(), revision(), r4=True)
    resource["meta"]["lastUpdated"] = "2021-08-17T13:43:00.037-04:00"
    row = claim_version(resource, landed, 1)
    assert row.last_updated == "2021-08-17T13:43:00.037-04:00"
    assert row.last_updated_utc == datetime(2021, 8, 17, 17, 43, 0, 37000, tzinfo=UTC)


class _MemorySink(io.BytesIO):
    def __init__(self, table: str, committed: list[str]) -> None:
        super().__init__()
        self.table, self.committed = table, committed

    def commit(self) -> None:
        self.committed.append(self.table)

    def abort(self) -> None:
        raise AssertionError("nothing should abort here")


def _curated(tmp_path: Path, lines: list[bytes], landed: LandedFile) -> dict[str, list[tuple[object, ...]]]:
    curate_lines(lines, landed, DirectoryOutputs(tmp_path, landed))
    tables = {}
    for table in ("claim_version_rows", "patients", "partial_claims", "rejects"):
        path = tmp_path / landed.output_key(table)
        tables[table] = duckdb.sql(f"SELECT * FROM '{path}'").fetchall() if path.exists() else []
    return tables


def test_bad_lines_become_rejects_with_their_key_and_line_and_good_lines_still_land(
    tmp_path: Path, landed: LandedFile
) -> None:
    good = dumps(eob(bene(), revision(), r4=True))
    no_ids = eob(bene(), revision(), r4=True)
    no_ids["identifier"] = [i for i in no_ids["identifier"] if "claim-group" not in i["system"]]
    no_status = eob(bene(), revision(), r4=True)
    del no_status["status"]
    bad_time = eob(bene(), revision(), r4=True)
    bad_time["meta"]["lastUpdated"] = "yesterday"
    odd_shape = eob(bene(), revision(), r4=True)
    odd_shape["identifier"] = "not a list"
    lines = [
        good + b"\n",
        b"this is not json\n",
        dumps(no_ids) + b"\n",
        b"\n",  # a blank line is neither a record nor a reject
        b'["an", "array"]\n',
        b'{"resourceType": "Coverage", "id": "part-a-1"}\n',
        b'{"id": "x"}\n',
        dumps(no_status) + b"\n",
        dumps(bad_time) + b"\n",
        dumps(odd_shape) + b"\n",
        good[: len(good) // 2],  # a truncated last line
    ]
    committed: list[str] = []
    report = curate_lines(lines, landed, lambda table: _MemorySink(table, committed))
    assert (report.lines, report.blank_lines, report.rows) == (11, 1, {"claim_version_rows": 1, "rejects": 9})
    assert sorted(committed) == ["claim_version_rows", "rejects"]

    rejects = [Reject(*row[:6]) for row in _curated(tmp_path, lines, landed)["rejects"]]
    assert [(r.line, r.resource_type) for r in rejects] == [
        (2, None), (3, "ExplanationOfBenefit"), (5, None), (6, "Coverage"), (7, None),
        (8, "ExplanationOfBenefit"), (9, "ExplanationOfBenefit"), (10, "ExplanationOfBenefit"), (11, None),
    ]  # fmt: skip
    assert all((r.source, r.run_id, r.object_key) == ("src", landed.run_id, landed.object_key) for r in rejects)
    reasons = [r.reason for r in rejects]
    assert reasons[0].startswith("not JSON")
    assert reasons[1] == "ExplanationOfBenefit carrier-9991831999 has no claim-group identifier"
    assert reasons[2] == "not a JSON object but list"
    assert reasons[3] == "resourceType Coverage is not curated"
    assert reasons[4] == "no resourceType"
    assert reasons[5] == "ExplanationOfBenefit 9991831999 has no status"
    assert reasons[6] == "meta.lastUpdated is not a FHIR instant: 'yesterday'"
    assert "no claim-group and clm_id/pde_id identifier" in reasons[7]
    assert reasons[8].startswith("not JSON")


def test_one_file_of_mixed_types_goes_to_one_parquet_file_per_table(tmp_path: Path, landed: LandedFile) -> None:
    lines = [
        dumps(patient(bene(), revision(kind="Patient"), True)),
        dumps(eob(bene(), revision(), True)),
        dumps(eob(bene(), revision("pde"), True, mbi_extension=True)),
    ]
    tables = _curated(tmp_path, lines, landed)
    assert [row[:3] for row in tables["claim_version_rows"]] == [("src", "777", "9991831999")] * 2
    assert [row[1:4] for row in tables["patients"]] == [("-10000000000066", "1S00E00AA66", ["7HA2AA0AA00"])]
    assert tables["partial_claims"] == tables["rejects"] == []
    assert sorted(p.name for p in (tmp_path / "curated" / "src").iterdir()) == ["claim_version_rows", "patients"]


def test_a_failure_mid_file_leaves_no_partial_output(tmp_path: Path, landed: LandedFile) -> None:
    def lines() -> object:
        yield dumps(eob(bene(), revision(), True))
        raise OSError("the landed object could not be read")

    with pytest.raises(OSError, match="could not be read"):
        curate_lines(lines(), landed, DirectoryOutputs(tmp_path, landed))  # type: ignore[arg-type]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_curating_a_file_again_overwrites_its_own_output(tmp_path: Path, landed: LandedFile) -> None:
    lines = [dumps(eob(bene(), revision(), True))]
    curate_lines(lines, landed, DirectoryOutputs(tmp_path, landed))
    curate_lines(lines, landed, DirectoryOutputs(tmp_path, landed))
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [str(p.relative_to(tmp_path)) for p in files] == [
        "curated/src/claim_version_rows/run_month=2026-06/20260601T000000.000Z-aaaaaa-00001.parquet"
    ]
    assert duckdb.sql(f"SELECT count(*) FROM '{files[0]}'").fetchall() == [(1,)]


def test_rows_leave_memory_a_row_group_at_a_time(tmp_path: Path, landed: LandedFile) -> None:
    line = dumps(eob(bene(), revision(), True))
    consumed = 0

    def lines() -> object:
        nonlocal consumed
        for _ in range(1000):
            consumed += 1
            yield line

    report = curate_lines(lines(), landed, DirectoryOutputs(tmp_path, landed), row_group_rows=128)  # type: ignore[arg-type]
    assert (consumed, report.rows) == (1000, {"claim_version_rows": 1000})
    metadata = pq.read_metadata(tmp_path / landed.output_key("claim_version_rows"))
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [128] * 7 + [104]
