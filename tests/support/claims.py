"""Claims test helpers: EOBs as AB2D serves them, and an export landed and curated into a folder
laid out like the bucket (what the local engine reads)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path

from claims import CurationReport, DirectoryOutputs, LandedFile, curate_lines
from local.emulator.claims import eob
from local.emulator.config import DEFAULT_DATA_LOAD_TIME
from local.emulator.population import Beneficiary, Population, Revision
from local.emulator.render import render
from local.emulator.resources import dumps

BENE = Beneficiary(1, "-10000000000066", "1S00E00AA66", None, datetime(2019, 1, 1, tzinfo=UTC), False, 0)


def day(text: str) -> datetime:
    """The page's MM/DD/YYYY as the moment BFD/AB2D would stamp (midnight UTC)."""
    month, dom, year = (int(part) for part in text.split("/"))
    return datetime(year, month, dom, tzinfo=UTC)


def ab2d_eob(group: str, claim_id: str, status: str, last_updated: datetime, claim_type: str = "pde") -> bytes:
    """One NDJSON line: an R4 EOB with AB2D's MBI extension (the emulator's builder)."""
    revision = Revision(
        "ExplanationOfBenefit", f"{claim_type}-{claim_id}", last_updated, int(claim_id), status,
        claim_type, claim_id, group, date(2019, 12, 20),
    )  # fmt: skip
    return dumps(eob(BENE, revision, r4=True, mbi_extension=True))


def land(
    root: Path, source: str, run_id: str, run_date: str, lines: Iterable[bytes], file_index: int = 1
) -> CurationReport:
    """Curate one landed EOB file of a run into ``root/curated/...``."""
    name = f"ExplanationOfBenefit-{file_index:04d}.ndjson.gz"
    key = f"fhir/{source}/ExplanationOfBenefit/run_date={run_date}/{run_id}/{name}"
    landed = LandedFile(source, run_id, run_date, key, file_index)
    return curate_lines(lines, landed, DirectoryOutputs(root, landed))


def land_bcda_and_ab2d(root: Path, bcda: str = "local-bcda", ab2d: str = "local-ab2d") -> Path:
    """A BCDA-like source (R4 EOBs, MBIs on Patient, one historic) and an AB2D-like one, curated
    into ``root`` by one run."""
    run = "20260601T041233.705Z-abcdef"
    population = Population(5, 25, DEFAULT_DATA_LOAD_TIME)
    benes = population.group("all", 0)
    for index, kind in enumerate(("ExplanationOfBenefit", "Patient"), start=1):
        lines = [render(b, r, True) for b in benes for r in population.view(b, kind, DEFAULT_DATA_LOAD_TIME)]
        land(root, bcda, run, "2026-06-01", lines, index)
    land(root, ab2d, run, "2026-06-01", [ab2d_eob("99995", "12987987", "active", day("01/01/2020"))])
    return root
