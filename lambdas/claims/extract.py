"""One parsed NDJSON resource -> its curated rows, or a ``Rejected`` with the reason.

The claim facts follow CMS's AB2D "Claims data details" page, applied to every source: claim
group from the claim-group identifier, claim id from clm_id (Part D: pde_id), status from
``eob.status``, last updated from ``eob.meta.lastUpdated``. A resource gives one row, except a
Bundle of a ``deleted`` file (Bulk Data IG): one row per DELETE entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

from claims import fhir
from claims.fhir import Json, items, mapping, path, text
from claims.jsonparse import content_digest
from claims.layout import LandedFile
from claims.mbi import eob_mbis, patient_mbis
from claims.rows import ClaimVersion, DeletedResource, PartialClaim, PatientMbi
from claims.tables import CLAIM_VERSION_ROWS, DELETED_RESOURCES, PARTIAL_CLAIMS, PATIENTS
from claims.timestamps import EPOCH, from_datetime, parse_instant


class Rejected(Exception):  # a verdict on the input, not an error of ours: no ...Error suffix
    """The resource yields no row; ``reason`` says why, for the rejects table."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Updated(NamedTuple):
    """When a resource was updated, as the rows record it (``ClaimVersion.last_updated`` ...)."""

    raw: str | None  # meta.lastUpdated exactly as in the data
    utc: datetime
    micros: int
    origin: str  # LAST_UPDATED | TRANSACTION_TIME | RUN_START


LAST_UPDATED, TRANSACTION_TIME, RUN_START = "lastUpdated", "transactionTime", "runStart"
_RUN_START = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z")  # ingest's run ids


@lru_cache(maxsize=16)
def _export_moment(transaction_time: str | None, run_id: str) -> Updated:
    """What orders a resource without meta.lastUpdated (optional in FHIR: the SMART reference server
    sends no meta at all): the export's transactionTime, which bounds every lastUpdated it holds;
    else (AB2D's is no instant) the run's start, from its id; the landing order breaks the ties."""
    if transaction_time and (instant := parse_instant(transaction_time)) is not None:
        return Updated(None, instant.utc, instant.micros, TRANSACTION_TIME)
    found = _RUN_START.match(run_id)
    moment = EPOCH
    if found:
        year, month, day, hour, minute, second, millis = (int(part) for part in found.groups())
        moment = datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC)
    instant = from_datetime(moment)
    return Updated(None, instant.utc, instant.micros, RUN_START)


def _updated(resource: Json, landed: LandedFile) -> Updated:
    meta = resource.get("meta")
    raw = meta.get("lastUpdated") if isinstance(meta, dict) else None
    if raw is None:
        return _export_moment(landed.transaction_time, landed.run_id)
    instant = parse_instant(raw) if isinstance(raw, str) else None
    if instant is None:
        raise Rejected(f"meta.lastUpdated is not a FHIR instant: {str(raw)[:40]!r}")
    return Updated(raw, instant.utc, instant.micros, LAST_UPDATED)


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
    updated = _updated(eob, landed)
    start, end = _service_dates(eob)
    mbis = eob_mbis(eob)
    return ClaimVersion(
        landed.source, group, claim_id, status, updated.raw, updated.utc, updated.micros, updated.origin,
        content_digest(eob), _claim_type(eob), start, end,
        fhir.reference_id(eob.get("patient"), "Patient"), mbis.current, mbis.historic,
        text(eob.get("id")), landed.run_id, landed.object_key, line,
    )  # fmt: skip


def patient_mbi(patient: Json, landed: LandedFile, line: int) -> PatientMbi:
    patient_id = text(patient.get("id"))
    if patient_id is None:
        raise Rejected("Patient has no id")
    updated = _updated(patient, landed)
    mbis = patient_mbis(patient)
    return PatientMbi(
        landed.source, patient_id, mbis.current, mbis.historic, updated.raw, updated.utc, updated.micros,
        updated.origin, landed.run_id, landed.object_key, line,
    )  # fmt: skip


def partial_claim(resource: Json, landed: LandedFile, line: int) -> PartialClaim:
    """BCDA v2's FISS/MCS Claim and ClaimResponse: kept as they are (not resolved into families:
    they carry no claim-group identifier), keyed by resource id and the first identifier."""
    kind = str(resource.get("resourceType"))
    resource_id = text(resource.get("id"))
    if resource_id is None:
        raise Rejected(f"{kind} has no id")
    updated = _updated(resource, landed)
    first = next(items(resource.get("identifier")), None)
    start, end = _service_dates(resource)
    return PartialClaim(
        landed.source, kind, resource_id,
        text(first.get("value")) if first else None, text(first.get("system")) if first else None,
        text(resource.get("status")), text(resource.get("outcome")),
        fhir.reference_id(resource.get("request"), "Claim"), fhir.reference_id(resource.get("patient"), "Patient"),
        start, end, updated.raw, updated.utc, updated.micros, updated.origin, landed.run_id, landed.object_key, line,
    )  # fmt: skip


# A relative reference (ExplanationOfBenefit/<id>) or an absolute URL ending so: FHIR's type and id rules.
_DELETED_URL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


def _deleted(entry: object, landed: LandedFile, line: int) -> DeletedResource:
    found_entry = mapping(entry)
    if found_entry is None:
        raise Rejected(f"not an object but {type(entry).__name__}")
    request = mapping(found_entry.get("request"))
    if request is None:
        raise Rejected("no request")
    method = text(request.get("method"))
    if method != "DELETE":
        raise Rejected(f"request.method {method or '(none)'} is not DELETE")
    url = text(request.get("url")) or ""
    found = _DELETED_URL.search(url) if "?" not in url else None  # a conditional delete names no resource
    if found is None:
        raise Rejected(f"request.url {url[:80]!r} is not <resourceType>/<id>")
    return DeletedResource(landed.source, found.group(1), found.group(2), landed.run_id, landed.object_key, line)


def deleted_resources(bundle: Json, landed: LandedFile, line: int) -> Iterator[DeletedResource | Rejected]:
    """A line of a ``deleted`` file: a transaction Bundle whose entries are DELETE requests (Bulk
    Data IG, "deleted" in the manifest) -> one row per entry; an entry that is not a DELETE of one
    resource is a ``Rejected`` of its own, so the Bundle's other entries still count."""
    if bundle.get("type") != "transaction":  # the IG: "a FHIR Bundle with a type of transaction"
        raise Rejected(f"Bundle type {text(bundle.get('type')) or '(none)'} is not transaction")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise Rejected("Bundle has no entry")
    for number, entry in enumerate(entries, start=1):
        try:
            yield _deleted(entry, landed, line)
        except Rejected as rejected:
            yield Rejected(f"Bundle entry {number}: {rejected.reason}")


# What one resource gives: rows of its table, and Rejected verdicts on parts of it (a deletion
# Bundle's odd entries) that become reject rows of the same line.
Extractor = Callable[[Json, LandedFile, int], "Iterable[NamedTuple | Rejected]"]


def _one(extract: Callable[[Json, LandedFile, int], NamedTuple]) -> Extractor:
    return lambda resource, landed, line: (extract(resource, landed, line),)


# resourceType -> (table, extractor)
EXTRACTORS: dict[str, tuple[str, Extractor]] = {
    "ExplanationOfBenefit": (CLAIM_VERSION_ROWS, _one(claim_version)),
    "Patient": (PATIENTS, _one(patient_mbi)),
    "Claim": (PARTIAL_CLAIMS, _one(partial_claim)),
    "ClaimResponse": (PARTIAL_CLAIMS, _one(partial_claim)),
    "Bundle": (DELETED_RESOURCES, deleted_resources),
}
# the resource types of the output files curated (a deleted file's type is Bundle)
CURATED_TYPES = frozenset(("ExplanationOfBenefit", "Patient", "Claim", "ClaimResponse"))
DELETION_TYPE = "Bundle"


def curatable(kind: str, resource_type: str) -> bool:
    """Whether the claims layer reads a landed file of this manifest ``kind`` (output | error |
    deleted) and ``type``: output files of the curated types, and deleted files (their Bundles of
    DELETE entries are how a SMART server reports a cancelled claim). Error files never."""
    if kind == "output":
        return resource_type in CURATED_TYPES
    return kind == "deleted" and resource_type == DELETION_TYPE
