"""CMS's claim-version rules (AB2D "Claims data details", applied to every source) as small pure
functions: the truth that the views must match, usable on rows in memory.

- Records are ordered by their moment, ``updated_us``: meta.lastUpdated to the microsecond, or,
  where the server sends none (FHIR makes it optional; the SMART reference server sends no meta),
  the export's transactionTime (else the run's start); the landing order breaks ties.
- A version's state is its record with the latest moment (a cancellation re-sends an old version
  with a newer lastUpdated). Records of one claim id at one moment with equal content (the
  resource without meta) are duplicates: dropped and counted; the first landed copy is kept. At
  one moment with differing content the records are a new state: a cancelled one wins (CMS only
  ever cancels a version), else the first landed, and the version is flagged ``same_instant``.
- A family's latest version is the one received last (its earliest moment); on a tie an active
  one, then the one updated last, then the larger claim id (as numbers where both are numeric),
  then the one landed last: the answer never depends on the order rows arrive in. The family's
  status is its latest version's ("if the latest version in a family of claims is cancelled, then
  the entire claim is cancelled"). A version other than the latest still active is an anomaly
  CMS says never happens (it never re-sent that version's cancelled copy): flagged ``two-active``
  when the latest is active, ``older-active`` when it is cancelled (the family is cancelled).
- A deletion is a cancellation: a SMART server deletes a cancelled claim (its ``deleted`` files list
  it) where BFD re-sends it cancelled. A version whose resource (its state's resource id) was
  deleted by a run at or after the last run that delivered a record of it is cancelled; a record
  delivered after the deletion brings it back (run ids sort by start time).
- A family's MBI is its patient's current MBI by the freshest information (``patient_mbis``), the
  same for every family of the patient: an MBI can change, and a family last exported before the
  change still carries the old one. A Patient record naming only a historic MBI names it.
The views in sql/ do exactly the same.
"""

from __future__ import annotations

import re
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
    def updated_us(self) -> int: ...
    @property
    def updated_from(self) -> str: ...
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
    def content_digest(self) -> int: ...
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


def _state_order(record: Landed) -> tuple[int, int, tuple[str, str, int]]:
    """Smallest first: the latest moment, a cancelled record (a claim's), the first landed."""
    cancelled = getattr(record, "status", None) == CANCELLED
    return (-record.updated_us, 0 if cancelled else 1, landing_order(record))


def latest_state(records: Sequence[L]) -> L:
    """One claim id's (or patient's) records -> its state: the latest moment; at one moment a
    cancelled record, then the first landed."""
    return min(records, key=_state_order)


def same_instant(records: Sequence[VersionRecord]) -> bool:
    """Whether the records at the latest moment differ in content (a new state, not duplicates)."""
    latest = max(record.updated_us for record in records)
    return len({record.content_digest for record in records if record.updated_us == latest}) > 1


@dataclass(frozen=True, slots=True)
class Duplicate(Generic[R]):
    kept: R
    dropped: tuple[R, ...]


def duplicates(records: Iterable[R]) -> list[Duplicate[R]]:
    """Records of one claim id at one moment with equal content, seen more than once."""
    seen: dict[tuple[str, str, str, int, int], list[R]] = defaultdict(list)
    for record in records:
        key = (record.source, record.claim_group_id, record.claim_id, record.updated_us, record.content_digest)
        seen[key].append(record)
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
    received_us: int = 0
    same_instant: bool = False

    @property
    def status(self) -> str:
        """The state's status, or cancelled when deleted."""
        return CANCELLED if self.deleted else self.state.status


@dataclass(frozen=True, slots=True)
class Family(Generic[R]):
    """A claim family resolved: its current (latest) version, status, number of versions, flags."""

    current: R  # the current version's state record (its status and MBI as in the data)
    status: str  # active | cancelled
    versions: int
    anomaly: bool  # a version other than the current one is still active
    mbi: str | None  # the patient's current MBI (patient_mbis), else the current version's own
    historic_mbis: tuple[str, ...]
    flags: tuple[str, ...] = ()  # FLAGS, in that order


TWO_ACTIVE, OLDER_ACTIVE = "two-active", "older-active"
SAME_INSTANT, NO_LAST_UPDATED = "same-instant", "no-last-updated"
FLAGS = (TWO_ACTIVE, OLDER_ACTIVE, SAME_INSTANT, NO_LAST_UPDATED)
_NUMERIC = re.compile(r"[0-9]{1,38}")


def claim_id_order(claim_id: str) -> tuple[int, int, str]:
    """Larger last: a numeric claim id by its number ('10' after '9'), above any other id."""
    return (1, int(claim_id), claim_id) if _NUMERIC.fullmatch(claim_id) else (0, 0, claim_id)


def _latest_order(version: VersionState[R]) -> tuple[int, bool, int, tuple[int, int, str], tuple[str, str, int]]:
    state = version.state
    return (
        version.received_us, version.status == ACTIVE, state.updated_us, claim_id_order(state.claim_id),
        landing_order(state),
    )  # fmt: skip


def resolve_family(
    versions: Sequence[VersionState[R]], known_mbis: Mapping[tuple[str, str], Mbis] | None = None
) -> Family[R]:
    """A family's versions -> the family's current version, status, flags and MBIs. ``known_mbis``:
    each patient's MBIs (``patient_mbis``), for the family's patient."""
    current = max(versions, key=_latest_order)
    active = sum(version.status == ACTIVE for version in versions)
    status = ACTIVE if current.status == ACTIVE else CANCELLED
    others_active = active - (status == ACTIVE)
    flags = (
        TWO_ACTIVE if status == ACTIVE and others_active else None,
        OLDER_ACTIVE if status == CANCELLED and others_active else None,
        SAME_INSTANT if any(version.same_instant for version in versions) else None,
        NO_LAST_UPDATED if any(version.state.updated_from != "lastUpdated" for version in versions) else None,
    )
    state = current.state
    known = (known_mbis or {}).get((state.source, state.patient)) if state.patient is not None else None
    mbis = known or Mbis(state.mbi, state.historic_mbis)
    return Family(
        state, status, len(versions), others_active > 0, mbis.current, mbis.historic,
        tuple(flag for flag in flags if flag),
    )  # fmt: skip


def _received_order(record: VersionRecord) -> tuple[str, int, str, int]:
    return (record.run_id, record.updated_us, record.object_key, record.line)


def patient_mbis(
    records: Iterable[VersionRecord], patients: Iterable[PatientRecord] = ()
) -> dict[tuple[str, str], Mbis]:
    """(source, patient id) -> the patient's current and historic MBIs by the freshest information:
    its latest Patient record (as patients_current picks it) when that names an MBI, current or
    historic (BCDA); else
    the claim record naming an MBI that was received last: the latest run, then the latest
    last_updated, then the last object key and line (AB2D puts the patient's current MBI on every
    EOB it exports, while a family last exported before a change keeps the old one)."""
    freshest: dict[tuple[str, str], VersionRecord] = {}
    for record in records:
        if record.patient is None or (record.mbi is None and not record.historic_mbis):
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
        if latest.mbi is not None or latest.historic_mbis:
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
        first = min(group, key=lambda record: record.updated_us)
        states[key] = VersionState(
            state, first.last_updated_utc, len(group), _deleted(state, group, deleted_in), first.updated_us,
            same_instant(group),
        )  # fmt: skip
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
