"""ViewDefinition column types -> table column types (Hive / Parquet, Presto for Athena views), and
the conversion of each evaluated value into what its column holds.

The mapping, chosen so that SQL can compute with the values and nothing is rounded:

| ViewDefinition type | table type | a value that does not fit |
|---|---|---|
| string, code, id, uri, url, oid, uuid, markdown... (none) | string | a number: its text; an object: its JSON |
| boolean | boolean | not a boolean: error |
| integer, positiveInt, unsignedInt | int | not an integer within 32 bits: error |
| integer64 | bigint | not an integer within 64 bits: error |
| decimal | decimal(18,6) | more than 6 decimals or 12 integer digits: error (exact; money has 2) |
| date | date | a partial date (1970, 1970-06): error (type string keeps the text) |
| dateTime | string (as in the data: partial dates and offsets kept) | - |
| instant | timestamp (UTC, milliseconds) | not an instant: error |

A column's ``ansi/type`` tag overrides the table type: VARCHAR, BOOLEAN, INTEGER, BIGINT,
DOUBLE, DATE, TIMESTAMP or DECIMAL(p,s) (p <= 18). ``collection: true`` makes it an array of it.
An error here is the resource's, not the file's: its rows of that view become a view_rejects row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from views.definition import Column
from views.errors import ViewEvaluationError
from views.fhirpath.runtime import str_value

DEFAULT_DECIMAL = (18, 6)
_STRINGS = frozenset({
    "string", "code", "id", "uri", "url", "canonical", "oid", "uuid", "markdown", "base64Binary", "time",
    "xhtml", "dateTime",
})  # fmt: skip
_BY_FHIR = {"boolean": "boolean", "integer": "int", "positiveInt": "int", "unsignedInt": "int",
            "integer64": "bigint", "date": "date", "instant": "timestamp"}  # fmt: skip
_ANSI = {"VARCHAR": "string", "CHAR": "string", "TEXT": "string", "STRING": "string", "BOOLEAN": "boolean",
         "INTEGER": "int", "INT": "int", "BIGINT": "bigint", "DOUBLE": "double", "FLOAT": "double",
         "REAL": "double", "DATE": "date", "TIMESTAMP": "timestamp"}  # fmt: skip
_ANSI_DECIMAL = re.compile(r"^(?:DECIMAL|NUMERIC)\s*\(\s*(\d{1,2})\s*,\s*(\d{1,2})\s*\)$", re.IGNORECASE)
_PRESTO = {"string": "varchar", "boolean": "boolean", "int": "integer", "bigint": "bigint", "double": "double",
           "date": "date", "timestamp": "timestamp(3)"}  # fmt: skip
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ColumnTypeError(ValueError):
    """A column's type (or ansi/type tag) names no table type."""


def scalar_type(column: Column) -> str:
    """The table type of one value of the column (Hive spelling: string, int, decimal(18,6)...)."""
    ansi = column.tag("ansi/type")
    if ansi is not None:
        match = _ANSI_DECIMAL.match(ansi.strip())
        if match:
            precision, scale = int(match.group(1)), int(match.group(2))
            if not 1 <= precision <= 18 or scale > precision:
                raise ColumnTypeError(f"column {column.name}: ansi/type {ansi}: precision 1-18 and scale <= precision")
            return f"decimal({precision},{scale})"
        found = _ANSI.get(ansi.strip().upper())
        if found is None:
            raise ColumnTypeError(
                f"column {column.name}: ansi/type {ansi!r} is not one of {sorted(_ANSI)} or DECIMAL(p,s)"
            )
        return found
    kind = column.type or "string"
    if kind == "decimal":
        return "decimal({},{})".format(*DEFAULT_DECIMAL)
    if kind in _BY_FHIR:
        return _BY_FHIR[kind]
    if kind in _STRINGS or kind[:1].isupper():  # a complex type (Coding, Reference...): its JSON
        return "string"
    raise ColumnTypeError(f"column {column.name}: type {kind!r} is not a FHIR type")


def hive_type(column: Column) -> str:
    scalar = scalar_type(column)
    return f"array<{scalar}>" if column.collection else scalar


def presto_type(hive: str) -> str:
    if hive.startswith("array<"):
        return f"array({presto_type(hive[6:-1])})"
    return hive if hive.startswith("decimal(") else _PRESTO[hive]


# ---- value conversion


def _text(value: Any, column: str) -> str:
    """A number or boolean: its FHIR text; an object or list: its JSON."""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str_value(value)


def _boolean(value: Any, column: str) -> bool:
    if type(value) is bool:
        return value
    raise ViewEvaluationError(f"column {column} is boolean, got {value!r}")


def _integer(bits: int) -> Callable[[Any, str], int]:
    limit = 1 << (bits - 1)

    def convert(value: Any, column: str) -> int:
        if type(value) is str and bits == 64 and re.fullmatch(r"-?\d{1,19}", value):
            value = int(value)  # FHIR integer64 is a JSON string
        if type(value) is not int or not -limit <= value < limit:
            raise ViewEvaluationError(f"column {column} is a {bits}-bit integer, got {value!r}")
        return value

    return convert


def _double(value: Any, column: str) -> float:
    if type(value) in (int, float):
        return float(value)
    raise ViewEvaluationError(f"column {column} is a number, got {value!r}")


def _decimal(precision: int, scale: int) -> Callable[[Any, str], int]:
    """A decimal column holds the unscaled integer: exact or an error, never rounded. A JSON number
    arrives as a float (orjson); its shortest repr is the text the server sent (up to 15 digits)."""
    factor = 10**scale
    limit = 10**precision

    def convert(value: Any, column: str) -> int:
        unscaled: int
        if type(value) is int:
            unscaled = value * factor
        elif type(value) is float:
            unscaled = round(value * factor)
            if unscaled / factor != value:  # more decimals than the scale (or not a finite number)
                unscaled = _exact_unscaled(value, scale, column)
        else:
            raise ViewEvaluationError(f"column {column} is decimal({precision},{scale}), got {value!r}")
        if not -limit < unscaled < limit:
            raise ViewEvaluationError(f"column {column}: {value!r} does not fit decimal({precision},{scale})")
        return unscaled

    return convert


def _exact_unscaled(value: float, scale: int, column: str) -> int:
    try:
        exact = Decimal(repr(value)).scaleb(scale)
    except InvalidOperation as error:
        raise ViewEvaluationError(f"column {column}: {value!r} is not a decimal") from error
    if not exact.is_finite() or exact != exact.to_integral_value():
        raise ViewEvaluationError(f"column {column}: {value!r} has more than {scale} decimal places (not rounded)")
    return int(exact)


def _date(value: Any, column: str) -> date:
    if isinstance(value, str) and _FULL_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ViewEvaluationError(
        f"column {column} is a date, got {value!r} (a partial date needs type string, or ansi/type VARCHAR)"
    )


def _timestamp(value: Any, column: str) -> datetime:
    moment = None
    if isinstance(value, str) and "T" in value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if moment is None:
        raise ViewEvaluationError(f"column {column} is a timestamp, got {value!r} (a date and time are needed)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


_CONVERTERS: dict[str, Callable[[Any, str], Any]] = {
    "string": _text,
    "boolean": _boolean,
    "int": _integer(32),
    "bigint": _integer(64),
    "double": _double,
    "date": _date,
    "timestamp": _timestamp,
}


def converter(column: Column) -> Callable[[Any], Any]:
    """value -> what the column's table type holds (None stays None, a collection a list)."""
    scalar = scalar_type(column)
    match = re.match(r"^decimal\((\d+),(\d+)\)$", scalar)
    one = _decimal(int(match.group(1)), int(match.group(2))) if match else _CONVERTERS[scalar]
    name = column.name
    if column.collection:
        return lambda values: [one(value, name) for value in values]
    if scalar == "string":
        return lambda value: value if value is None or type(value) is str else one(value, name)
    return lambda value: None if value is None else one(value, name)
