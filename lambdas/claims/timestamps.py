"""FHIR instants (``meta.lastUpdated``) -> UTC datetimes that order correctly across offsets."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_instant(value: str) -> datetime | None:
    """An aware UTC datetime, truncated to milliseconds (the precision of the Parquet column and
    of Athena's timestamps, so both engines order versions alike); None when not a date-time.

    FHIR instants carry an offset (BFD: ``2021-08-17T13:43:00.037-04:00``); a value without one,
    or a bare date, is read as UTC rather than rejected: BCDA documents old claims whose
    lastUpdated is just ``2020-01-01``.
    """
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
