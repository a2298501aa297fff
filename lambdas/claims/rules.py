"""CMS's claim-version rules (AB2D "Claims data details", applied to every source) as small pure
functions: the truth that the views must match, usable on rows in memory.

- A version's state is its record with the latest last_updated (a cancellation re-sends an old
  version with a newer lastUpdated).
- The same claim id with the same last_updated again is a duplicate: dropped and counted; the
  first landed copy (run, object, line) is the one kept.
- A family's current version is its active version. No active version: the family is cancelled and
  its current version is the one updated last. Two active versions: the one updated last is kept
  and the family is flagged as an anomaly. "Updated last" ties (a cancellation and its successor
  share one lastUpdated, as in CMS's cancelled-family example) go to the version received last
  (its earliest last_updated), then to the larger claim id: the answer never depends on the order
  rows arrive in. The views in sql/ do exactly the same.
- A deletion is a cancellation: a SMART server deletes a cancelled claim (its ``deleted`` files list
  it) where BFD re-sends it cancelled. A version whose resource (its state's resource id) was
  deleted by a run at or after the last run that delivered a record of it is cancelled; a record
  delivered after the deletion brings it back (run ids sort by start time).
- A family's MBI is its patient's current MBI by the freshest information (``patient_mbis``), the
  same for every family of the patient: an MBI can change, and a family last exported before the
  change still carries the old one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from claims.mbi import Mbis

ACTIVE = "active"
CANCELLED = "cancelled"
EOB = "ExplanationOfBenefit"


class Landed(Protocol):
    """When a curated row was updated, and where it landed."""

    @property
    def last_updated_utc(self) -> datetime: ...
    @property
    def run_id(self) -> str: ...
    @property
    def object_key(self) -> str: ...
    @property
    def line(self) -> int: ...


class VersionRecord(Landed, Protocol):
    """What the rules read of a claim-version row (``claims.rows.ClaimVersion`` has it all)."""

    @property
    def source(self) -> str: ...
    @property
    def claim_group_id(self) -> str: ...
    @property
    def claim_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def resource_id(self) -> str | None: ...
    @property
    def patient(self) -> str | None: ...
    @property
    def mbi(self) -> str | None: ...
    @property
    def historic_mbis(self) -> tuple[str, ...]: ...


class PatientRecord(Landed, Protocol):
    """What the rules read of a Patient row (``claims.rows.PatientMbi``)."""

    @property
    def source(self) -> str: ...
    @property
    def patient_id(self) -> str: ...
    @property
    def mbi(self) -> str | None: ...
    @property
    def historic_mbis(self) -> tuple[str, ...]: ...


class DeletionRecord(Protocol):
    """What the rules read of a deletion (``claims.rows.DeletedResource``)."""

    @property
    def source(self) -> str: ...
    @property
    def resource_type(self) -> str: ...
    @property
    def resource_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...


R = TypeVar("R", bound=VersionRecord)
L = TypeVar("L", bound=Landed)


def landing_order(record: Landed) -> tuple[str, str, int]:
    """Where a record landed, in landing order (run ids sort by start time)."""
    return (record.run_id, record.object_key, record.line)


def latest_state(records: Sequence[L]) -> L:
    """One claim id's (or patient's) records -> its state: the latest last_updated, first landed on
    a tie."""
    latest = max(record.last_updated_utc for record in records)
    return min((r for r in records if r.last_updated_utc == latest), key=landing_order)


@dataclass(frozen=True, slots=True)
class Duplicate(Generic[R]):
    kept: R
    dropped: tuple[R, ...]


def duplicates(records: Iterable[R]) -> list[Duplicate[R]]:
    """Records of one claim id with one last_updated, seen more than once."""
    seen: dict[tuple[str, str, str, datetime], list[R]] = defaultdict(list)
    for record in records:
        seen[(record.source, record.claim_group_id, record.claim_id, record.last_updated_utc)].append(record)
    found = []
    for copies in seen.values():
        if len(copies) > 1:
            ordered = sorted(copies, key=landing_order)
            found.append(Duplicate(ordered[0], tuple(ordered[1:])))
    return found


@dataclass(frozen=True, slots=True)
class VersionState(Generic[R]):
    """One claim version: its state (latest record), when it first arrived, how many records, and
    whether the server deleted it after its last record."""

    state: R
    received_utc: datetime
    records: int
    deleted: bool = False

    @property
    def status(self) -> str:
        """The state's status, or cancelled when deleted."""
        return CANCELLED if self.deleted else self.state.status


@dataclass(frozen=True, slots=True)
class Family(Generic[R]):
    """A claim family resolved: its current version, status, number of versions, anomaly flag."""

    current: R  # the current version's state record (its status and MBI as in the data)
    status: str  # active | cancelled
    versions: int
    anomaly: bool
    mbi: str | None  # the patient's current MBI (patient_mbis), else the current version's own
    historic_mbis: tuple[str, ...]


def resolve_family(
    versions: Sequence[VersionState[R]], known_mbis: Mapping[tuple[str, str], Mbis] | None = None
) -> Family[R]:
    """A family's versions -> the family's current version, status and MBIs. ``known_mbis``: each
    patient's MBIs (``patient_mbis``), for the family's patient."""
    active = [version for version in versions if version.status == ACTIVE]
    candidates = active or list(versions)
    current = max(
        candidates, key=lambda version: (version.state.last_updated_utc, version.received_utc, version.state.claim_id)
    )
    state = current.state
    known = (known_mbis or {}).get((state.source, state.patient)) if state.patient is not None else None
    mbis = known or Mbis(state.mbi, state.historic_mbis)
    return Family(state, ACTIVE if active else CANCELLED, len(versions), len(active) > 1, mbis.current, mbis.historic)


def _received_order(record: VersionRecord) -> tuple[str, datetime, str, int]:
    return (record.run_id, record.last_updated_utc, record.object_key, record.line)


def patient_mbis(
    records: Iterable[VersionRecord], patients: Iterable[PatientRecord] = ()
) -> dict[tuple[str, str], Mbis]:
    """(source, patient id) -> the patient's current and historic MBIs by the freshest information:
    its latest Patient record (as patients_current picks it) when that names an MBI (BCDA); else
    the claim record naming an MBI that was received last: the latest run, then the latest
    last_updated, then the last object key and line (AB2D puts the patient's current MBI on every
    EOB it exports, while a family last exported before a change keeps the old one)."""
    freshest: dict[tuple[str, str], VersionRecord] = {}
    for record in records:
        if record.patient is None or record.mbi is None:
            continue
        key = (record.source, record.patient)
        held = freshest.get(key)
        if held is None or _received_order(record) > _received_order(held):
            freshest[key] = record
    found = {key: Mbis(record.mbi, record.historic_mbis) for key, record in freshest.items()}
    by_patient: dict[tuple[str, str], list[PatientRecord]] = defaultdict(list)
    for patient in patients:
        by_patient[(patient.source, patient.patient_id)].append(patient)
    for key, group in by_patient.items():
        latest = latest_state(group)
        if latest.mbi is not None:
            found[key] = Mbis(latest.mbi, latest.historic_mbis)
    return found


def deletion_runs(deletions: Iterable[DeletionRecord]) -> dict[tuple[str, str], str]:
    """(source, ExplanationOfBenefit id) -> the latest run that listed it as deleted."""
    latest: dict[tuple[str, str], str] = {}
    for deletion in deletions:
        if deletion.resource_type == EOB:
            key = (deletion.source, deletion.resource_id)
            latest[key] = max(latest.get(key, deletion.run_id), deletion.run_id)
    return latest


def _deleted(state: VersionRecord, records: Sequence[VersionRecord], deleted_in: Mapping[tuple[str, str], str]) -> bool:
    """The version's resource (its state's id) deleted at or after the last run that delivered a
    record of it."""
    deleted_at = deleted_in.get((state.source, state.resource_id)) if state.resource_id is not None else None
    return deleted_at is not None and deleted_at >= max(record.run_id for record in records)


def version_states(
    records: Iterable[R], deletions: Iterable[DeletionRecord] = ()
) -> dict[tuple[str, str, str], VersionState[R]]:
    """(source, claim_group_id, claim_id) -> that version's state."""
    by_version: dict[tuple[str, str, str], list[R]] = defaultdict(list)
    for record in records:
        by_version[(record.source, record.claim_group_id, record.claim_id)].append(record)
    deleted_in = deletion_runs(deletions)
    states = {}
    for key, group in by_version.items():
        state = latest_state(group)
        received = min(record.last_updated_utc for record in group)
        states[key] = VersionState(state, received, len(group), _deleted(state, group, deleted_in))
    return states


def resolve(
    records: Iterable[R], deletions: Iterable[DeletionRecord] = (), patients: Iterable[PatientRecord] = ()
) -> dict[tuple[str, str], Family[R]]:
    """Every claim record, deletion and Patient record ever landed -> (source, claim_group_id) ->
    the family resolved."""
    records = list(records)
    known_mbis = patient_mbis(records, patients)
    by_family: dict[tuple[str, str], list[VersionState[R]]] = defaultdict(list)
    for (source, group, _), version in version_states(records, deletions).items():
        by_family[(source, group)].append(version)
    return {key: resolve_family(versions, known_mbis) for key, versions in by_family.items()}
