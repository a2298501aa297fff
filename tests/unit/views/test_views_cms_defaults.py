"""The default CMS views over the emulator's BFD V2 resources, every claim type: one claim_lines
row per item, one claim_diagnoses row per diagnosis (ICD-10 and ICD-9), the amounts, dates and
NPIs each claim type carries where the data dictionary puts them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from local.emulator.population import CLAIM_TYPES, Beneficiary, Revision
from local.emulator.resources import coverage, patient
from tests.support.views import emulator_eobs
from views import CompiledView
from views.catalog import load_tables

LOADED = datetime(2026, 3, 4, tzinfo=UTC)
BENE = Beneficiary(3, "-10000000000066", "1S00E00AA66", "7HA2AA0AA00", LOADED, False, 0)


@pytest.fixture(scope="module")
def views() -> dict[str, CompiledView]:
    return {table.name: table.compile() for table in load_tables()}


def _eobs(claim_type: str, count: int = 40) -> list[dict[str, Any]]:
    return emulator_eobs(BENE, LOADED, (claim_type,), count)


def _values(view: CompiledView, resources: list[dict[str, Any]], column: str) -> list[Any]:
    return [row[column] for row in view.evaluate(resources)]


@pytest.mark.parametrize("claim_type", CLAIM_TYPES)
def test_lines_diagnoses_and_procedures_follow_the_resource(views: dict[str, CompiledView], claim_type: str) -> None:
    eobs = _eobs(claim_type)
    lines = list(views["claim_lines"].evaluate(eobs))
    assert len(lines) == sum(len(e["item"]) for e in eobs)
    assert len(list(views["claim_headers"].evaluate(eobs))) == len(eobs)
    assert len(list(views["claim_diagnoses"].evaluate(eobs))) == sum(len(e.get("diagnosis", [])) for e in eobs)
    assert len(list(views["claim_procedures"].evaluate(eobs))) == sum(len(e.get("procedure", [])) for e in eobs)
    assert all(line["paid_amount"] is not None and line["submitted_amount"] is not None for line in lines)
    assert all(line["rendering_npi"] is not None for line in lines)
    assert {line["claim_type"] for line in lines} == {claim_type.upper()}
    professional = claim_type in ("carrier", "dme")
    assert all((line["allowed_amount"] is not None) == professional for line in lines)
    assert all((line["place_of_service"] is not None) == professional for line in lines)
    dated = claim_type not in ("inpatient", "snf")  # the dictionary has no line date for these
    assert all((line["service_start"] is not None) == dated for line in lines)
    assert all(
        line["service_start"] >= "2025-05-01" and line["service_end"] == line["service_start"]
        for line in lines
        if dated
    )
    assert all(line["hcpcs"] is not None for line in lines) == (claim_type != "pde")
    assert all(line["ndc"] is not None for line in lines) == (claim_type == "pde")


def test_each_line_has_its_own_rendering_npi_and_the_header_every_performing_one(
    views: dict[str, CompiledView],
) -> None:
    eobs = _eobs("carrier", 80)
    several = [e for e in eobs if len([m for m in e["careTeam"] if m["role"]["coding"][0]["code"] == "performing"]) > 1]
    assert several
    for resource in several:
        team = {m["sequence"]: m["provider"]["identifier"]["value"] for m in resource["careTeam"]}
        lines = list(views["claim_lines"].evaluate([resource]))
        assert [line["rendering_npi"] for line in lines] == [team[i["careTeamSequence"][0]] for i in resource["item"]]
        (header,) = views["claim_headers"].evaluate([resource])
        assert {line["rendering_npi"] for line in lines} <= set(header["performing_npis"])


def test_icd_10_and_icd_9_diagnoses_with_their_types(views: dict[str, CompiledView]) -> None:
    rows = [row for claim_type in CLAIM_TYPES for row in views["claim_diagnoses"].evaluate(_eobs(claim_type))]
    assert {row["icd_version"] for row in rows} == {"9", "10"}
    assert {row["code_system"] for row in rows} == {
        "http://hl7.org/fhir/sid/icd-10-cm",
        "http://hl7.org/fhir/sid/icd-9-cm",
    }
    assert {"principal", "admitting", "other", "secondary"} <= {row["type"] for row in rows}
    assert all(row["principal"] == (row["type"] == "principal") for row in rows)
    assert {
        row["present_on_admission"] for row in rows if row["claim_type"] == "INPATIENT" and row["type"] != "admitting"
    } <= set("YNUW")


def test_coverage_periods_and_patients(views: dict[str, CompiledView]) -> None:
    parts = [
        coverage(BENE, Revision("Coverage", f"{part}-{BENE.bene_id}", LOADED, n), True)
        for n, part in enumerate(("part-a", "part-b", "part-c", "part-d"))
    ]
    rows = list(views["coverage_periods"].evaluate(parts))
    assert [row["part"] for row in rows] == ["Part A", "Part B", "Part C", "Part D"]
    assert all(row["patient_id"] == BENE.bene_id for row in rows)
    assert rows[0]["buyin_01"] is not None and rows[3]["buyin_01"] is None  # Parts A and B only
    assert all(row["dual_12"] is not None and row["reference_year"] == "2026" for row in rows)
    (person,) = views["patient_demographics"].evaluate(
        [patient(BENE, Revision("Patient", BENE.bene_id, LOADED, 1), True)]
    )
    assert person["mbi"] == BENE.mbi and person["bene_id"] == BENE.bene_id
    assert person["birth_date"] and person["sex"] in ("male", "female") and person["state"] == "MD"
