"""Column types beyond the claims tables' four, and the encodings that make wide, repetitive rows
cheap (the SQL on FHIR view tables: lib/views maps each ViewDefinition column type here).

- ``boolean`` (BOOLEAN), ``int`` (INT32), ``double`` (DOUBLE), ``date`` (INT32, DATE: days since
  1970-01-01), ``decimal(p,s)`` with p <= 18 (INT64 holding the unscaled value, DECIMAL(p, s):
  exact, as FHIR decimals are), and ``array<T>`` of any scalar type (the three-level LIST);
- dictionary encoding (a PLAIN dictionary page, then RLE_DICTIONARY indices bit-packed 8 or 16
  bits wide) for string columns, and bit-packed definition levels: C-speed bytes instead of a Python
  loop per value, which is what a constant ``source`` or ``object_key`` column costs then.

Values arrive as the Python types of ``PYTHON_TYPES`` (a decimal as an ``int``, already scaled by
10**s: the caller checked it is exact); a wrong type is a caller's bug and fails loudly.
"""

from __future__ import annotations

import re
import struct
import sys
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from claims.parquet import thrift

BOOLEAN, INT32, INT64, DOUBLE, BYTE_ARRAY = 0, 1, 2, 5, 6
_CONVERTED_DATE, _CONVERTED_DECIMAL = 6, 5
DECIMAL = re.compile(r"^decimal\((\d{1,2}),(\d{1,2})\)$")
SCALARS = ("string", "bigint", "timestamp", "boolean", "int", "double", "date")
_EPOCH_DAY = date(1970, 1, 1).toordinal()


@dataclass(frozen=True, slots=True)
class Kind:
    """How one scalar type is stored."""

    physical: int
    annotations: tuple[thrift.Field, ...]  # SchemaElement fields after type/repetition/name/children
    python: frozenset[type]
    encode: Callable[[list[Any]], bytes]  # PLAIN values
    statistic: Callable[[Any], bytes] | None  # min/max bytes, or None (no statistics)


def _plain_int32(values: list[Any]) -> bytes:
    return struct.pack(f"<{len(values)}i", *values)


def _plain_int64(values: list[Any]) -> bytes:
    return struct.pack(f"<{len(values)}q", *values)


def _plain_double(values: list[Any]) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def _plain_days(values: list[Any]) -> bytes:
    return _plain_int32([value.toordinal() - _EPOCH_DAY for value in values])


def pack_bits(bits: Sequence[bool | int]) -> bytes:
    """Booleans bit-packed LSB first, padded to whole bytes (Parquet's bit-packing of width 1)."""
    text = "".join(["1" if bit else "0" for bit in bits])
    size = -(-len(text) // 8)
    return int(text[::-1] or "0", 2).to_bytes(size, "little")


def _plain_boolean(values: list[Any]) -> bytes:
    return pack_bits(values)


def _int32_stat(value: Any) -> bytes:
    return struct.pack("<i", value)


def _day_stat(value: Any) -> bytes:
    return struct.pack("<i", value.toordinal() - _EPOCH_DAY)


def _int64_stat(value: Any) -> bytes:
    return struct.pack("<q", value)


def _logical(field: int, fields: list[thrift.Field]) -> thrift.Field:
    return (10, thrift.STRUCT, [(field, thrift.STRUCT, fields)])


_KINDS: dict[str, Kind] = {
    "boolean": Kind(BOOLEAN, (), frozenset({bool}), _plain_boolean, None),
    "int": Kind(INT32, (), frozenset({int}), _plain_int32, _int32_stat),  # a plain INT32 is a signed 32-bit int
    "double": Kind(DOUBLE, (), frozenset({float}), _plain_double, None),
    "date": Kind(INT32, ((6, thrift.I32, _CONVERTED_DATE), _logical(6, [])), frozenset({date}), _plain_days, _day_stat),
}


def kind(type_name: str) -> Kind | None:
    """The Kind of a scalar type of this module (None for the writer's own four)."""
    if type_name in _KINDS:
        return _KINDS[type_name]
    match = DECIMAL.match(type_name)
    if match is None:
        return None
    precision, scale = int(match.group(1)), int(match.group(2))
    annotations = (
        (6, thrift.I32, _CONVERTED_DECIMAL),
        (7, thrift.I32, scale),
        (8, thrift.I32, precision),
        _logical(5, [(1, thrift.I32, scale), (2, thrift.I32, precision)]),
    )
    return Kind(INT64, annotations, frozenset({int}), _plain_int64, _int64_stat)


def is_column_type(type_name: str) -> bool:
    """string, bigint, timestamp, boolean, int, double, date, decimal(p,s) (1 <= p <= 18, s <= p),
    and array<T> of any of those."""
    inner = type_name[6:-1] if type_name.startswith("array<") and type_name.endswith(">") else type_name
    match = DECIMAL.match(inner)
    if match:
        precision, scale = int(match.group(1)), int(match.group(2))
        return 1 <= precision <= 18 and scale <= precision
    return inner in SCALARS


# ---- encodings


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def bit_packed_run(packed: bytes, values: int) -> bytes:
    """One bit-packed run of the RLE/bit-packed hybrid: ``values`` rounded up to groups of 8."""
    return _varint((-(-values // 8)) << 1 | 1) + packed


def definition_levels(values: Sequence[object]) -> bytes:
    """Definition levels 0/1 of an optional column, bit-packed, with the data page v1 length prefix."""
    run = bit_packed_run(pack_bits([value is not None for value in values]), len(values))
    return struct.pack("<I", len(run)) + run


_LITTLE_ENDIAN = sys.byteorder == "little"


def dictionary_indices(present: list[str]) -> tuple[list[str], bytes] | None:
    """(the distinct values in first-seen order, the RLE_DICTIONARY data: bit width, then one
    bit-packed run), or None beyond 65,535 distinct values (then PLAIN is as good)."""
    if not present:
        return None
    if present.count(present[0]) == len(present):  # a constant (source, run_id, object_key): C speed
        return [present[0]], bytes([8]) + bit_packed_run(bytes(-(-len(present) // 8) * 8), len(present))
    index = dict.fromkeys(present)  # the distinct values, in first-seen order
    if len(index) > 0xFFFF:
        return None
    position = {value: number for number, value in enumerate(index)}
    ids = list(map(position.__getitem__, present))
    padding = [0] * (-len(ids) % 8)
    if len(index) <= 0x100:
        width, packed = 8, bytes(ids + padding)
    else:
        indices = array("H", ids + padding)
        if not _LITTLE_ENDIAN:
            indices.byteswap()
        width, packed = 16, indices.tobytes()
    return list(index), bytes([width]) + bit_packed_run(packed, len(ids))


def byte_arrays(values: list[str]) -> bytes:
    """PLAIN BYTE_ARRAY: each value's 4-byte little-endian length, then its UTF-8 bytes."""
    encoded = [value.encode() for value in values]
    return b"".join([len(data).to_bytes(4, "little") + data for data in encoded])
