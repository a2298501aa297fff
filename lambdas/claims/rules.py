"""CMS's claim-version rules (AB2D "Claims data details", applied to every source) as small pure
functions: the truth that the views must match, usable on rows in memory.

- A version's state is its record with the latest last_updated (a cancellation re-sends an old
  version with a newer lastUpdated).
- The same claim id with the same last_updated again is a duplicate: dropped and counted; the
  first landed copy (run, object, line) is the one kept.
- A family's current version is its active version. No active version: the family is cancelled and
  its current version is the one updated last. Two active versions: the one updated last is kept
  and the family is flagged as an anomaly. Ties on last_updated fall to the larger claim id, so the
  answer never depends on the order rows arrive in (the views do the same).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

ACTIVE = "active"
CANCELLED = "cancelled"


class VersionRecord(Protocol):
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
    def last_updated_utc(self) -> datetime: ...
    @property
    def run_id(self) -> str: ...
    @property
    def object_key(self) -> str: ...
    @property
    def line(self) -> int: ...


R = TypeVar("R", bound=VersionRecord)


def landing_order(record: VersionRecord) -> tuple[str, str, int]:
    """Where a record landed, in landing order (run ids sort by start time)."""
    return (record.run_id, record.object_key, record.line)


def latest_state(records: Sequence[R]) -> R:
    """One claim id's records -> its state: the latest last_updated, first landed on a tie."""
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
class Family(Generic[R]):
    """A claim family resolved: its current version, status, number of versions, anomaly flag."""

    current: R
    status: str  # active | cancelled
    versions: int
    anomaly: bool


def resolve_family(states: Sequence[R]) -> Family[R]:
    """A family's versions, each at its latest state -> the family's current version and status."""
    active = [state for state in states if state.status == ACTIVE]
    candidates = active or list(states)
    current = max(candidates, key=lambda state: (state.last_updated_utc, state.claim_id))
    return Family(current, ACTIVE if active else CANCELLED, len(states), len(active) > 1)


def version_states(records: Iterable[R]) -> dict[tuple[str, str, str], R]:
    """(source, claim_group_id, claim_id) -> that version's state."""
    by_version: dict[tuple[str, str, str], list[R]] = defaultdict(list)
    for record in records:
        by_version[(record.source, record.claim_group_id, record.claim_id)].append(record)
    return {key: latest_state(group) for key, group in by_version.items()}


def resolve(records: Iterable[R]) -> dict[tuple[str, str], Family[R]]:
    """Every record ever landed -> (source, claim_group_id) -> the family resolved."""
    by_family: dict[tuple[str, str], list[R]] = defaultdict(list)
    for (source, group, _), state in version_states(records).items():
        by_family[(source, group)].append(state)
    return {key: resolve_family(states) for key, states in by_family.items()}
