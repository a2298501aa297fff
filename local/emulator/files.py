"""Stored export files: gzip bytes built on first use, cached, and streamed in large slices.

A file is a list of segments, each one complete gzip member (plus, when cheap, its NDJSON). An
ordinary file has one segment; a large file repeats a few shared segments, so a 100 MB file costs
no memory beyond its list of references. Concatenated members are a valid gzip stream (RFC 1952).
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

CHUNK = 1 << 20  # bytes per write: large writes keep the server off the critical path
GZIP_LEVEL = 1

# What Go's gzip.Writer.Close() emits when nothing was written: header, an empty stored final block,
# CRC32 0, ISIZE 0. BCDA appends it after the stored file (a deferred Close in its gzip middleware).
EMPTY_GZIP_MEMBER = bytes.fromhex("1f8b08000000000000ff010000ffff0000000000000000")


def gzip_bytes(raw: bytes, level: int = GZIP_LEVEL) -> bytes:
    """One gzip member with a zero mtime, so that equal content gives equal bytes."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    return compressor.compress(raw) + compressor.flush()


@dataclass(frozen=True)
class Segment:
    """One gzip member and, optionally, the NDJSON it holds."""

    gz: bytes
    raw: bytes | None = None


@dataclass(frozen=True)
class Digests:
    gz_sha256: str
    gz_length: int
    raw_sha256: str
    raw_length: int


class StoredFile:
    """A file as the export worker left it on disk: gzip, built lazily by `build`."""

    def __init__(self, name: str, build: Callable[[], tuple[list[Segment], int]]) -> None:
        self.name = name
        self._build = build
        self._segments: list[Segment] | None = None
        self._lines = 0
        self.gzip_on_disk = True  # False: the server gzips it on the fly (no BCDA trailing member)
        self._digests: Digests | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_lines(cls, name: str, build: Callable[[], list[bytes]]) -> StoredFile:
        """A one-member file from NDJSON lines (each without its newline)."""

        def build_segments() -> tuple[list[Segment], int]:
            lines = build()
            raw = b"".join(line + b"\n" for line in lines)
            return [Segment(gzip_bytes(raw))], len(lines)

        return cls(name, build_segments)

    @property
    def segments(self) -> list[Segment]:
        if self._segments is None:
            with self._lock:
                if self._segments is None:
                    self._segments, self._lines = self._build()
        return self._segments

    @property
    def lines(self) -> int:
        """Number of NDJSON lines (builds the file if needed)."""
        _ = self.segments
        return self._lines

    @property
    def digests(self) -> Digests:
        """Lengths and SHA-256 of the stored gzip bytes and of the NDJSON (computed once)."""
        if self._digests is None:
            gz_hash, raw_hash = hashlib.sha256(), hashlib.sha256()
            gz_length = raw_length = 0
            for segment in self.segments:
                gz_hash.update(segment.gz)
                gz_length += len(segment.gz)
            for piece in self.raw_chunks():
                raw_hash.update(piece)
                raw_length += len(piece)
            self._digests = Digests(gz_hash.hexdigest(), gz_length, raw_hash.hexdigest(), raw_length)
        return self._digests

    @property
    def gz_sha256(self) -> str:
        return self.digests.gz_sha256

    @property
    def gz_length(self) -> int:
        return self.digests.gz_length

    def gz_chunks(self, start: int = 0, end: int | None = None) -> Iterator[memoryview]:
        """The stored bytes [start, end) in slices of at most CHUNK bytes."""
        position = 0
        for segment in self.segments:
            view = memoryview(segment.gz)
            seg_start, seg_end = position, position + len(view)
            position = seg_end
            if seg_end <= start:
                continue
            if end is not None and seg_start >= end:
                return
            lo = max(start - seg_start, 0)
            hi = len(view) if end is None else min(end - seg_start, len(view))
            for offset in range(lo, hi, CHUNK):
                yield view[offset : min(offset + CHUNK, hi)]

    def raw_chunks(self, start: int = 0) -> Iterator[bytes | memoryview]:
        """The NDJSON, decompressed on the fly, from byte `start`."""
        skip = start
        for piece in self._raw_pieces():
            if skip >= len(piece):
                skip -= len(piece)
                continue
            yield memoryview(piece)[skip:] if skip else piece
            skip = 0

    def _raw_pieces(self) -> Iterator[bytes | memoryview]:
        for segment in self.segments:
            if segment.raw is not None:
                view = memoryview(segment.raw)
                for offset in range(0, len(view), CHUNK):
                    yield view[offset : offset + CHUNK]
                continue
            inflater = zlib.decompressobj(31)
            data = memoryview(segment.gz)
            for offset in range(0, len(data), CHUNK // 8):
                out = inflater.decompress(data[offset : offset + CHUNK // 8])
                if out:
                    yield out
            tail = inflater.flush()
            if tail:
                yield tail

    def gz_bytes(self) -> bytes:
        return b"".join(self.gz_chunks())

    def raw_bytes(self) -> bytes:
        return b"".join(bytes(piece) for piece in self.raw_chunks())
