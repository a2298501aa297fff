"""One parsed NDJSON resource -> one curated row, or a ``Rejected`` with the reason.

The claim facts follow CMS's AB2D "Claims data details" page, applied to every source: claim
group from the claim-group identifier, claim id from clm_id (Part D: pde_id), status from
``eob.status``, last updated from ``eob.meta.lastUpdated``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from claims import fhir
from claims.fhir import Json, items, path, text
from claims.layout import LandedFile
from claims.mbi import eob_mbis, patient_mbis
from claims.rows import ClaimVersion, PartialClaim, PatientMbi
from claims.tables import CLAIM_VERSION_ROWS, PARTIAL_CLAIMS, PATIENTS
from claims.timestamps import parse_instant


class Rejected(Exception):  # a verdict on the input, not an error of ours: no ...Error suffix
    """The resource yields no row; ``reason`` says why, for the rejects table."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _last_updated(resource: Json) -> tuple[str, datetime]:
    meta = resource.get("meta")
    raw = meta.get("lastUpdated") if isinstance(meta, dict) else None
    if not isinstance(raw, str) or not raw:
        raise Rejected("no meta.lastUpdated")
    parsed = parse_instant(raw)
    if parsed is None:
        raise Rejected(f"meta.lastUpdated is not an instant: {raw[:40]!r}")
    return raw, parsed


def _claim_type(eob: Json) -> str | None:
    type_ = eob.get("type")
    for coding in items(type_.get("coding") if isinstance(type_, dict) else None):
        if coding.get("system") == fhir.EOB_TYPE and (code := text(coding.get("code"))):
            return code.upper()
    # BFD ids are <claimtype>-<claim id> (carrier-9991831999, pde-89): the fallback when no coding
    resource_id = text(eob.get("id"))
    if resource_id and "-" in resource_id.lstrip("-"):
        return resource_id.lstrip("-").split("-", 1)[0].upper()
    return None


def _service_dates(resource: Json) -> tuple[str | None, str | None]:
    """billablePeriod, else the span of the items' servicedDate / servicedPeriod (Part D events)."""
    period = resource.get("billablePeriod")
    if isinstance(period, dict) and (period.get("start") or period.get("end")):
        return text(period.get("start")), text(period.get("end"))
    dates = [
        value
        for item in items(resource.get("item"))
        for value in (
            text(item.get("servicedDate")),
            text(path(item, "servicedPeriod", "start")),
            text(path(item, "servicedPeriod", "end")),
        )
        if value
    ]
    return (min(dates), max(dates)) if dates else (None, None)


def _claim_identifiers(eob: Json) -> tuple[str | None, str | None]:
    """(claim group, claim id) in one pass over eob.identifier."""
    group = clm_id = pde_id = None
    for identifier in items(eob.get("identifier")):
        system = identifier.get("system")
        if system == fhir.CLAIM_GROUP:
            group = group or text(identifier.get("value"))
        elif system == fhir.CLAIM_ID:
            clm_id = clm_id or text(identifier.get("value"))
        elif system == fhir.PDE_ID:
            pde_id = pde_id or text(identifier.get("value"))
    return group, clm_id or pde_id


def claim_version(eob: Json, landed: LandedFile, line: int) -> ClaimVersion:
    group, claim_id = _claim_identifiers(eob)
    if group is None or claim_id is None:
        missing = " and ".join(
            name for name, value in (("claim-group", group), ("clm_id/pde_id", claim_id)) if value is None
        )
        raise Rejected(f"ExplanationOfBenefit {text(eob.get('id')) or '(no id)'} has no {missing} identifier")
    status = text(eob.get("status"))
    if status is None:
        raise Rejected(f"ExplanationOfBenefit {claim_id} has no status")
    last_updated, moment = _last_updated(eob)
    start, end = _service_dates(eob)
    mbis = eob_mbis(eob)
    return ClaimVersion(
        landed.source, group, claim_id, status, last_updated, moment, _claim_type(eob), start, end,
        fhir.reference_id(eob.get("patient"), "Patient"), mbis.current, mbis.historic,
        text(eob.get("id")), landed.run_id, landed.object_key, line,
    )  # fmt: skip


def patient_mbi(patient: Json, landed: LandedFile, line: int) -> PatientMbi:
    patient_id = text(patient.get("id"))
    if patient_id is None:
        raise Rejected("Patient has no id")
    last_updated, moment = _last_updated(patient)
    mbis = patient_mbis(patient)
    return PatientMbi(
        landed.source, patient_id, mbis.current, mbis.historic, last_updated, moment,
        landed.run_id, landed.object_key, line,
    )  # fmt: skip


def partial_claim(resource: Json, landed: LandedFile, line: int) -> PartialClaim:
    """BCDA v2's FISS/MCS Claim and ClaimResponse: kept as they are (not resolved into families:
    they carry no claim-group identifier), keyed by resource id and the first identifier."""
    kind = str(resource.get("resourceType"))
    resource_id = text(resource.get("id"))
    if resource_id is None:
        raise Rejected(f"{kind} has no id")
    last_updated, moment = _last_updated(resource)
    first = next(items(resource.get("identifier")), None)
    start, end = _service_dates(resource)
    return PartialClaim(
        landed.source, kind, resource_id,
        text(first.get("value")) if first else None, text(first.get("system")) if first else None,
        text(resource.get("status")), text(resource.get("outcome")),
        fhir.reference_id(resource.get("request"), "Claim"), fhir.reference_id(resource.get("patient"), "Patient"),
        start, end, last_updated, moment, landed.run_id, landed.object_key, line,
    )  # fmt: skip


Extractor = Callable[[Json, LandedFile, int], NamedTuple]

# resourceType -> (table, extractor)
EXTRACTORS: dict[str, tuple[str, Extractor]] = {
    "ExplanationOfBenefit": (CLAIM_VERSION_ROWS, claim_version),
    "Patient": (PATIENTS, patient_mbi),
    "Claim": (PARTIAL_CLAIMS, partial_claim),
    "ClaimResponse": (PARTIAL_CLAIMS, partial_claim),
}
CURATED_TYPES = frozenset(EXTRACTORS)
