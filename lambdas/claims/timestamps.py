"""FHIR instants (``meta.lastUpdated``) -> UTC moments that order correctly across offsets.

Only an ``instant`` is accepted (FHIR R4 datatypes: a date, a time to the second at least, and a
zone): ``2020-01-01``, ``20200101`` or ``2020-W01-1`` are not instants, though Python's
``fromisoformat`` reads them all. A value that names no representable UTC moment
(``9999-12-31T23:59:59-01:00`` is year 10000 in UTC) is refused too: the line becomes a reject,
never an exception out of the curation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

# FHIR R4's regex for instant (https://hl7.org/fhir/R4/datatypes.html#instant), grouped.
_INSTANT = re.compile(
    r"(?P<year>[0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(?P<month>0[1-9]|1[0-2])"
    r"-(?P<day>0[1-9]|[1-2][0-9]|3[0-1])T(?P<hour>[01][0-9]|2[0-3]):(?P<minute>[0-5][0-9])"
    r":(?P<second>[0-5][0-9]|60)(?P<fraction>\.[0-9]+)?"
    r"(?P<zone>Z|(?P<sign>[+-])(?P<zh>0[0-9]|1[0-3]|14):(?P<zm>[0-5][0-9]))"
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Instant:
    """A parsed instant: ``utc`` to the millisecond (the Parquet timestamp column, as Athena shows
    it) and ``micros`` since the epoch (what versions are ordered by: a cancellation stamped 0.8 ms
    after the active copy is a later state). Digits past the microsecond are dropped."""

    utc: datetime
    micros: int


def from_datetime(moment: datetime) -> Instant:
    moment = moment.astimezone(UTC)
    return Instant(moment.replace(microsecond=moment.microsecond // 1000 * 1000), (moment - EPOCH) // _MICROSECOND)


def parse_instant(value: str) -> Instant | None:
    """The instant ``value`` names, or None when it is not a FHIR instant with a UTC moment."""
    found = _INSTANT.fullmatch(value)
    if found is None:
        return None
    leap = found["second"] == "60"  # a leap second: the moment right after :59
    micros = int((found["fraction"] or ".0")[1:7].ljust(6, "0"))
    zone = UTC
    if found["zone"] != "Z":
        offset = timedelta(hours=int(found["zh"]), minutes=int(found["zm"]))
        if offset > timedelta(hours=14):
            return None
        zone = timezone(-offset if found["sign"] == "-" else offset)
    try:
        local = datetime(
            int(found["year"]), int(found["month"]), int(found["day"]), int(found["hour"]), int(found["minute"]),
            59 if leap else int(found["second"]), micros, tzinfo=zone,
        )  # fmt: skip
        return from_datetime(local + timedelta(seconds=1) if leap else local)
    except (ValueError, OverflowError):  # February 30th; a moment before year 1 or after 9999 in UTC
        return None
