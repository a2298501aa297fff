"""Value and level encodings of Parquet data pages (PLAIN values, RLE levels)."""

from __future__ import annotations

import struct
from itertools import groupby


def _run(value: int, count: int, out: bytearray) -> None:
    """One RLE run of the hybrid encoding: varint(count << 1), then the value in one byte (the
    levels here need at most 2 bits)."""
    header = count << 1
    while header > 0x7F:
        out.append((header & 0x7F) | 0x80)
        header >>= 7
    out.append(header)
    out.append(value)


def rle_levels(levels: bytes | bytearray, bit_width: int) -> bytes:
    """Levels in the RLE/bit-packed hybrid, RLE runs only, with the 4-byte length prefix of a
    data page v1."""
    assert 1 <= bit_width <= 8
    out = bytearray()
    for value, run in groupby(levels):
        _run(value, sum(1 for _ in run), out)
    return struct.pack("<I", len(out)) + bytes(out)


def rle_run(value: int, count: int, bit_width: int) -> bytes:
    """``count`` equal levels: one RLE run (the common case of a column without nulls)."""
    assert 1 <= bit_width <= 8
    out = bytearray()
    _run(value, count, out)
    return struct.pack("<I", len(out)) + bytes(out)


def plain_int64(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}q", *values)


def int64_stat(value: int) -> bytes:
    return struct.pack("<q", value)
