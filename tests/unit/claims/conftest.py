"""Helpers for the claims tests: emulator-built resources and curation into a temp folder."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from claims import CurationReport, DirectoryOutputs, LandedFile, curate_lines
from local.emulator.claims import eob
from local.emulator.population import Beneficiary, Revision
from local.emulator.resources import dumps

LANDED = LandedFile(
    source="src",
    run_id="20260601T000000.000Z-aaaaaa",
    run_date="2026-06-01",
    object_key="fhir/src/ExplanationOfBenefit/run_date=2026-06-01/20260601T000000.000Z-aaaaaa/ExplanationOfBenefit-0001.ndjson.gz",
    file_index=1,
)
LOADED = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


def bene(historic: str | None = "7HA2AA0AA00") -> Beneficiary:
    return Beneficiary(3, "-10000000000066", "1S00E00AA66", historic, LOADED, False, 0)


def revision(claim_type: str = "carrier", status: str = "active", kind: str = "ExplanationOfBenefit") -> Revision:
    return Revision(
        kind, f"{claim_type}-9991831999", LOADED, 42, status, claim_type, "9991831999", "777", date(2026, 2, 1)
    )


@pytest.fixture
def landed() -> LandedFile:
    return LANDED


def land_deleted(
    root: Path, source: str, run_id: str, run_date: str, lines: Iterable[bytes], file_index: int = 9
) -> CurationReport:
    """Curate one landed `deleted` file (Bundles of DELETE entries) of a run into ``root/curated/...``;
    its index is the run's manifest index, apart from the run's output files'."""
    key = f"deleted/{source}/Bundle/run_date={run_date}/{run_id}/Bundle-{file_index:04d}.ndjson.gz"
    landed = LandedFile(source, run_id, run_date, key, file_index)
    return curate_lines(lines, landed, DirectoryOutputs(root, landed))


def ab2d_line(bene: Beneficiary, revision: Revision) -> bytes:
    """An R4 EOB as AB2D serves it: the patient's current MBI and its historic one as extensions
    (the emulator's builder writes the current one only)."""
    resource = eob(bene, revision, r4=True, mbi_extension=True)
    if bene.historic_mbi:
        historic = json.loads(json.dumps(resource["extension"][0]))
        historic["valueIdentifier"]["value"] = bene.historic_mbi
        historic["valueIdentifier"]["extension"][0]["valueCoding"]["code"] = "historic"
        resource["extension"].append(historic)
    return dumps(resource)
