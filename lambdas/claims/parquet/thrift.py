"""The Thrift compact protocol, encode side only: just what Parquet's footer and page headers need.

A struct is a sequence of ``(field id, type, value)`` in increasing field-id order; a ``None`` value
leaves the field out (Thrift's optional). A list is ``(element type, [values])``. Reference: the
Thrift compact protocol spec (thrift/doc/specs/thrift-compact-protocol.md).
"""

from __future__ import annotations

from collections.abc import Sequence

# compact-protocol type ids
BOOL = 1  # in a struct field header: 1 = true, 2 = false
I32 = 5
I64 = 6
BINARY = 8
LIST = 9
STRUCT = 12

Field = tuple[int, int, object]


def _varint(value: int, out: bytearray) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _zigzag(value: int) -> int:
    return value * 2 if value >= 0 else -value * 2 - 1


def _value(kind: int, value: object, out: bytearray) -> None:
    if kind in (I32, I64):
        assert isinstance(value, int)
        _varint(_zigzag(value), out)
    elif kind == BINARY:
        data = value.encode() if isinstance(value, str) else value
        assert isinstance(data, bytes | bytearray)
        _varint(len(data), out)
        out += data
    elif kind == STRUCT:
        assert isinstance(value, Sequence)
        _struct(value, out)
    elif kind == LIST:
        assert isinstance(value, tuple)
        element_kind, items = value
        if len(items) < 15:
            out.append((len(items) << 4) | element_kind)
        else:
            out.append(0xF0 | element_kind)
            _varint(len(items), out)
        for item in items:
            _value(element_kind, item, out)
    else:
        raise ValueError(f"unsupported compact type {kind}")


def _struct(fields: Sequence[Field], out: bytearray) -> None:
    last = 0
    for field_id, kind, value in fields:
        if value is None:
            continue
        if field_id <= last:
            raise ValueError("struct fields must come in increasing id order")
        wire_kind = (1 if value else 2) if kind == BOOL else kind
        delta = field_id - last
        if delta <= 15:
            out.append((delta << 4) | wire_kind)
        else:
            out.append(wire_kind)
            _varint(_zigzag(field_id), out)
        if kind != BOOL:
            _value(kind, value, out)
        last = field_id
    out.append(0)  # stop


def encode_struct(fields: Sequence[Field]) -> bytes:
    """One struct in the compact protocol."""
    out = bytearray()
    _struct(fields, out)
    return bytes(out)
