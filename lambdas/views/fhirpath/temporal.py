"""FHIR dates, times and decimals as FHIRPath compares them, and their boundaries.

Values stay the strings (and floats) of the JSON; this module parses them only when a comparison
or a boundary needs it. A partial date (``1970-06``) has a precision: comparing it with a value of
another precision is unknown (None), as FHIRPath says.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

_DATE_TIME = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?"
    r"(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?"
    r"(Z|[+-]\d{2}:\d{2})?$"
)
_TIME = re.compile(r"^(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?$")
_LOOKS = re.compile(r"^\d{4}-\d{2}")


def looks_temporal(left: str, right: str) -> bool:
    return bool(_LOOKS.match(left) and _LOOKS.match(right))


def _key(value: str) -> tuple[tuple[int, ...], int, timedelta | None] | None:
    """(fields, precision, offset) of a date/dateTime, or of a time (fields after an hour marker)."""
    match = _DATE_TIME.match(value)
    if match:
        parts = match.groups()
        fields = [int(p) for p in parts[:6] if p is not None]
        millis = parts[6]
        if millis is not None:
            fields.append(int((millis + "000")[:3]))
        offset = _offset(parts[7]) if parts[7] else None
        return tuple(fields), len(fields), offset
    match = _TIME.match(value)
    if match:
        fields = [int(p) for p in match.groups()[:3] if p is not None]
        if match.group(4) is not None:
            fields.append(int((match.group(4) + "000")[:3]))
        return (-1, *fields), len(fields) + 1, None
    return None


def _offset(text: str) -> timedelta:
    if text == "Z":
        return timedelta(0)
    sign = -1 if text[0] == "-" else 1
    return sign * timedelta(hours=int(text[1:3]), minutes=int(text[4:6]))


def _instant(fields: tuple[int, ...], offset: timedelta) -> datetime:
    padded = [*fields, *(1, 1, 0, 0, 0, 0)[len(fields) - 1 :]][:7]
    year, month, day, hour, minute, second, millis = padded
    return datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC) - offset


def order(left: Any, right: Any) -> int | None:
    """-1 / 0 / 1, or None when the precisions differ (unknown)."""
    if not isinstance(left, str) or not isinstance(right, str):
        return None
    a, b = _key(left), _key(right)
    if a is None or b is None:
        return (left > right) - (left < right)
    (fa, pa, oa), (fb, pb, ob) = a, b
    if pa > 3 and pb > 3 and fa[0] != -1 and (oa is not None or ob is not None):
        # both with a time of day: compare as instants (a missing offset is taken as UTC)
        ia, ib = _instant(fa, oa or timedelta(0)), _instant(fb, ob or timedelta(0))
        if pa != pb and min(pa, pb) < 6:
            return None
        return (ia > ib) - (ia < ib)
    common = min(pa, pb)
    if fa[:common] != fb[:common]:
        return (fa[:common] > fb[:common]) - (fa[:common] < fb[:common])
    return 0 if pa == pb else None


def equal(left: Any, right: Any) -> bool | None:
    if isinstance(left, str) and isinstance(right, str):
        result = order(left, right)
        return None if result is None else result == 0
    return bool(left == right)


def boundary(value: Any, high: bool, kind: str | None = None) -> Any:
    """``lowBoundary()`` / ``highBoundary()`` of a decimal, date, dateTime or time. ``kind``: the
    type when the path says it (``ofType(dateTime)``): a date-only dateTime gets a time and zone."""
    if type(value) in (int, float):
        return _decimal_boundary(value, high)
    if not isinstance(value, str):
        return None
    match = _DATE_TIME.match(value)
    if match and kind != "time":
        if "T" in value or kind in ("dateTime", "instant"):
            return _date_time_boundary(match, high)
        return _date_boundary(match, high)
    match = _TIME.match(value)
    if match:
        hour, minute, second, millis = match.groups()
        low = not high
        return "{}:{}:{}.{}".format(
            hour,
            minute or ("00" if low else "59"),
            second or ("00" if low else "59"),
            (millis + "000")[:3] if millis else ("000" if low else "999"),
        )
    return None


def _decimal_boundary(value: int | float, high: bool) -> float | int:
    text = repr(value)
    places = len(text.split(".")[1]) if "." in text and "e" not in text else 0
    half = Decimal(5) / Decimal(10) ** (places + 1)
    result = Decimal(text) + (half if high else -half)
    return float(result)


def _date_boundary(match: re.Match[str], high: bool) -> str | None:
    year, month, day = match.group(1), match.group(2), match.group(3)
    if day is not None:
        return f"{year}-{month}-{day}"
    if month is None:
        return f"{year}-12-31" if high else f"{year}-01-01"
    last = calendar.monthrange(int(year), int(month))[1]
    return f"{year}-{month}-{last:02d}" if high else f"{year}-{month}-01"


def _date_time_boundary(match: re.Match[str], high: bool) -> str:
    year, month, day, hour, minute, second, millis, zone = match.groups()
    month = month or ("12" if high else "01")
    if day is None:
        day = f"{calendar.monthrange(int(year), int(month))[1]:02d}" if high else "01"
    hour = hour or ("23" if high else "00")
    minute = minute or ("59" if high else "00")
    second = second or ("59" if high else "00")
    fraction = (millis + "000")[:3] if millis else ("999" if high else "000")
    # without an offset the value could be in any zone: the widest span (+14:00 to -12:00)
    zone = zone or ("-12:00" if high else "+14:00")
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}.{fraction}{zone}"
