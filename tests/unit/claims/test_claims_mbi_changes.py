"""A beneficiary's MBI changes: claims_current shows the patient's current MBI by the freshest
information on every family of the patient, old families included, and the old MBI among the
historic ones. AB2D's shape (the MBIs on every EOB it exports) and BCDA's (on Patient), through the
pure rules and through the views in DuckDB, which must agree."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from claims import LandedFile
from claims.extract import claim_version, patient_mbi
from claims.rows import ClaimVersion, PatientMbi
from claims.rules import resolve
from local.claims.query import ClaimsDatabase
from local.emulator.claims import eob
from local.emulator.population import Beneficiary, Revision
from local.emulator.resources import dumps, patient
from tests.support.claims import land
from tests.unit.claims.conftest import ab2d_line

SOURCE = "src"
T0 = datetime(2026, 1, 10, tzinfo=UTC)
OLD, NEW, OTHER = "1S00E00AA66", "9AA9AA9AA99", "2T22T22TT22"
PATIENT = Beneficiary(1, "-100", OLD, None, T0, False, 0)
SOMEONE_ELSE = Beneficiary(2, "-200", OTHER, None, T0, False, 0)


@dataclass(frozen=True)
class Eob:
    bene: Beneficiary
    group: str
    claim_id: str
    days: int  # lastUpdated: days after T0
    ab2d: bool = True  # AB2D's MBI extensions on the EOB (BCDA's EOBs carry none)
    no_patient: bool = False


@dataclass(frozen=True)
class Pat:
    bene: Beneficiary
    days: int


Export = list[Eob | Pat]


def _after_change(bene: Beneficiary) -> Beneficiary:
    return replace(bene, mbi=NEW, historic_mbi=bene.mbi)


def _line(item: Eob | Pat) -> bytes:
    moment = T0 + timedelta(days=item.days)
    if isinstance(item, Pat):
        return dumps(patient(item.bene, Revision("Patient", item.bene.bene_id, moment, 7), r4=True))
    revision = Revision(
        "ExplanationOfBenefit", f"carrier-{item.claim_id}", moment, int(item.claim_id), "active", "carrier",
        item.claim_id, item.group, date(2025, 12, 1),
    )  # fmt: skip
    resource = json.loads(ab2d_line(item.bene, revision)) if item.ab2d else eob(item.bene, revision, r4=True)
    if item.no_patient:
        del resource["patient"]
    return dumps(resource)


def _run_id(number: int) -> str:
    return f"202602{number:02d}T000000.000Z-mbi{number:03d}"


def _through_the_rules(exports: list[Export]) -> dict[str, tuple[str | None, list[str]]]:
    records: list[ClaimVersion] = []
    patients: list[PatientMbi] = []
    for number, export in enumerate(exports, start=1):
        landed = LandedFile(SOURCE, _run_id(number), f"2026-02-{number:02d}", f"k{number}", 1)
        for index, item in enumerate(export, start=1):
            resource = json.loads(_line(item))
            if isinstance(item, Pat):
                patients.append(patient_mbi(resource, landed, index))
            else:
                records.append(claim_version(resource, landed, index))
    return {
        group: (family.mbi, list(family.historic_mbis))
        for (_, group), family in resolve(records, patients=patients).items()
    }


def _through_the_views(exports: list[Export], root: Path) -> dict[str, tuple[str | None, list[str]]]:
    for number, export in enumerate(exports, start=1):
        land(root, SOURCE, _run_id(number), f"2026-02-{number:02d}", [_line(item) for item in export])
    rows = ClaimsDatabase(root).query("current").rows
    return {row[1]: (row[6], list(row[7])) for row in rows}


SCENARIOS: dict[str, tuple[list[Export], dict[str, tuple[str | None, list[str]]]]] = {
    "AB2D: the EOBs of the export after the change carry the new MBI; old families follow": (
        [
            [Eob(PATIENT, "a", "1", 0), Eob(PATIENT, "b", "2", 1), Eob(SOMEONE_ELSE, "c", "3", 1)],
            # a claim updated *before* the older families (an old lastUpdated), received after the change
            [Eob(_after_change(PATIENT), "d", "4", -30)],
        ],
        {"a": (NEW, [OLD]), "b": (NEW, [OLD]), "d": (NEW, [OLD]), "c": (OTHER, [])},
    ),
    "AB2D: an old claim re-sent after the change (a duplicate) carries the new MBI": (
        [
            [Eob(PATIENT, "a", "1", 0), Eob(PATIENT, "b", "2", 5)],
            [Eob(_after_change(PATIENT), "a", "1", 0)],
        ],
        {"a": (NEW, [OLD]), "b": (NEW, [OLD])},
    ),
    "AB2D: within one run the record updated last is the fresher": (
        [[Eob(_after_change(PATIENT), "a", "1", 9), Eob(PATIENT, "b", "2", 3)]],
        {"a": (NEW, [OLD]), "b": (NEW, [OLD])},
    ),
    "BCDA: a new Patient record with the new MBI; its claims carry none": (
        [
            [Pat(PATIENT, 0), Eob(PATIENT, "a", "1", 0, ab2d=False), Eob(SOMEONE_ELSE, "c", "3", 1, ab2d=False)],
            [Pat(_after_change(PATIENT), 20), Eob(PATIENT, "b", "2", 21, ab2d=False)],
        ],
        {"a": (NEW, [OLD]), "b": (NEW, [OLD]), "c": (None, [])},
    ),
    "a Patient record outranks the claims' MBIs, the latest lastUpdated first whatever the run": (
        [
            [Pat(_after_change(PATIENT), 20), Eob(PATIENT, "a", "1", 0)],
            [Pat(PATIENT, 2), Eob(PATIENT, "b", "2", 30)],
        ],
        {"a": (NEW, [OLD]), "b": (NEW, [OLD])},
    ),
    "a claim without a patient reference keeps its own MBI": (
        [[Eob(PATIENT, "a", "1", 0, no_patient=True)], [Eob(_after_change(PATIENT), "b", "2", 1)]],
        {"a": (OLD, []), "b": (NEW, [OLD])},
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_current_mbi_is_the_freshest_known_for_the_patient(scenario: str, tmp_path: Path) -> None:
    exports, expected = SCENARIOS[scenario]
    assert _through_the_rules(exports) == expected
    assert _through_the_views(exports, tmp_path) == expected


def test_a_patient_record_without_an_mbi_leaves_the_claims_mbi(tmp_path: Path) -> None:
    no_mbi = Pat(replace(PATIENT, mbi=""), 50)  # a SMART server's Patient: no us-mbi identifier
    exports: list[Export] = [[Eob(PATIENT, "a", "1", 0)], [no_mbi, Eob(_after_change(PATIENT), "b", "2", 1)]]
    landed = LandedFile(SOURCE, _run_id(2), "2026-02-02", "k", 1)
    assert patient_mbi(json.loads(_line(no_mbi)), landed, 1).mbi is None
    expected = {"a": (NEW, [OLD]), "b": (NEW, [OLD])}
    assert _through_the_rules(exports) == expected
    assert _through_the_views(exports, tmp_path) == expected
