"""One NDJSON line per revision: picks the resource builder."""

from __future__ import annotations

from local.emulator.claims import eob, partial_claim
from local.emulator.population import Beneficiary, Revision
from local.emulator.resources import coverage, dumps, patient


def render(
    bene: Beneficiary,
    revision: Revision,
    r4: bool,
    tags: bool = False,
    mbi_extension: bool = False,
    mbis: tuple[str, ...] = (),
) -> bytes:
    """One NDJSON line (without its newline) for a revision."""
    kind = revision.resource_type
    if kind == "ExplanationOfBenefit":
        return dumps(eob(bene, revision, r4, tags, mbi_extension, mbis))
    if kind == "Patient":
        return dumps(patient(bene, revision, r4))
    if kind == "Coverage":
        return dumps(coverage(bene, revision, r4))
    return dumps(partial_claim(bene, revision, kind == "ClaimResponse"))
