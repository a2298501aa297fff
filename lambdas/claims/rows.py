"""The curated rows, one NamedTuple per table; field order is the column order of the Parquet
files and of ``sql/schema.json`` (a test pins the two together)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class ClaimVersion(NamedTuple):
    """One ExplanationOfBenefit record: one version of a claim as one export delivered it."""

    source: str
    claim_group_id: str
    claim_id: str
    status: str  # exactly as in the data: active | cancelled (| draft | entered-in-error)
    last_updated: str | None  # exactly as in the data; None when the server sends none (SMART)
    last_updated_utc: datetime  # the moment ordered by, to the millisecond (see updated_from)
    updated_us: int  # the same moment in microseconds since the epoch: what versions are ordered by
    updated_from: str  # lastUpdated | transactionTime (no lastUpdated: the export's) | runStart
    content_digest: int  # of the resource without meta: equal digests at one moment are duplicates
    claim_type: str | None  # eob-type code (CARRIER, PDE, INPATIENT, ...)
    service_start: str | None
    service_end: str | None
    patient: str | None  # the id of eob.patient.reference
    mbi: str | None  # current MBI on the EOB itself (AB2D)
    historic_mbis: tuple[str, ...]
    resource_id: str | None
    run_id: str
    object_key: str
    line: int  # 1-based line of the NDJSON file


class PatientMbi(NamedTuple):
    """A Patient's MBIs (the crosswalk BCDA's claims reach through eob.patient)."""

    source: str
    patient_id: str
    mbi: str | None
    historic_mbis: tuple[str, ...]
    last_updated: str | None
    last_updated_utc: datetime
    updated_us: int
    updated_from: str
    run_id: str
    object_key: str
    line: int


class PartialClaim(NamedTuple):
    """BCDA v2's partially adjudicated (FISS/MCS) Claim or ClaimResponse."""

    source: str
    resource_type: str  # Claim | ClaimResponse
    resource_id: str
    claim_id: str | None
    claim_id_system: str | None
    status: str | None
    outcome: str | None  # ClaimResponse.outcome (queued | complete | error | partial)
    request: str | None  # the Claim id a ClaimResponse answers
    patient: str | None
    service_start: str | None
    service_end: str | None
    last_updated: str | None
    last_updated_utc: datetime
    updated_us: int
    updated_from: str
    run_id: str
    object_key: str
    line: int


class DeletedResource(NamedTuple):
    """One DELETE entry of a Bundle in a ``deleted`` file: the server deleted this resource. A
    generic SMART Bulk Data server deletes a cancelled claim where BFD re-sends it ``cancelled``."""

    source: str
    resource_type: str  # as in the entry's request.url (ExplanationOfBenefit/<id>)
    resource_id: str
    run_id: str  # the run that landed the deletion: it is later than every record it deletes
    object_key: str
    line: int


class Reject(NamedTuple):
    """A line (or one entry of a deletion Bundle) that yielded no row: not JSON, no identifiers, a
    resource type we do not curate, an entry that is not a DELETE."""

    source: str
    run_id: str
    object_key: str
    line: int
    resource_type: str | None
    reason: str
