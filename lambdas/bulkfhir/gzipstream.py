"""Streaming gzip decoding that survives multi-member bodies, for counting NDJSON lines.

BCDA serves its stored .gz file and then a deferred ``gzip.Writer.Close()`` appends an empty gzip
member (bcda-app ServeData), so a body is often two members. A single ``zlib.decompressobj(31)``
stops after the first member and leaves the rest as ``unused_data``; this decoder starts a new
member each time one ends. Output is produced in bounded slices, so a gzip bomb cannot blow up
memory.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable

from bulkfhir.errors import TransientError, UnexpectedResponseError

_GZIP_MAGIC = b"\x1f\x8b"
_SLICE = 1 << 20  # decompress at most 1 MiB per step


#: How much of a line is kept to look at (its resourceType): FHIR serializers write it first.
LINE_PREFIX_BYTES = 64 * 1024


class NdjsonCounter:
    """Counts lines and bytes of decompressed NDJSON fed to it in pieces, and keeps the beginning of
    its first and last lines (to tell what they are). ``on_line``, when given, sees every complete
    line (up to LINE_PREFIX_BYTES of it): meant for small files, such as error files."""

    def __init__(self, on_line: Callable[[bytes], None] | None = None) -> None:
        self.lines = 0
        self.bytes = 0
        self._last_byte = b"\n"
        self._tail = b""  # the unfinished last line, kept only up to a small bound
        self._current = b""  # the beginning of the line in progress
        self._first: bytes | None = None
        self._last = b""
        self._on_line = on_line

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self.lines += data.count(b"\n")
        self.bytes += len(data)
        self._last_byte = data[-1:]
        cut = data.rfind(b"\n")
        self._tail = (self._tail + data)[-4096:] if cut < 0 else data[cut + 1 :][-4096:]
        if cut < 0:
            if len(self._current) < LINE_PREFIX_BYTES:
                self._current = (self._current + data)[:LINE_PREFIX_BYTES]
            return
        if self._on_line is not None or self._first is None:
            self._each_line(data, cut)
        else:
            self._last = self._line_before(data, cut)
        self._current = data[cut + 1 :][:LINE_PREFIX_BYTES]

    def _line_before(self, data: bytes, end: int) -> bytes:
        """The beginning of the line that ends at ``data[end]`` (a newline), which may have begun in an
        earlier piece."""
        start = data.rfind(b"\n", 0, end) + 1
        line = data[start:end] if start else self._current + data[:end]
        return line[:LINE_PREFIX_BYTES]

    def _each_line(self, data: bytes, cut: int) -> None:
        start = 0
        while start <= cut:
            end = data.index(b"\n", start)
            line = (data[start:end] if start else self._current + data[:end])[:LINE_PREFIX_BYTES]
            if self._first is None:
                self._first = line
            self._last = line
            if self._on_line is None:
                # the first line is known: the rest of this piece needs only its last line
                if end < cut:
                    self._last = self._line_before(data, cut)
                return
            self._on_line(line)
            start = end + 1

    def finish(self) -> None:
        """The end of the data: a last line without a newline is a line too."""
        if not self.ends_with_newline and self._current:
            if self._first is None:
                self._first = self._current
            self._last = self._current
            if self._on_line is not None:
                self._on_line(self._current)
            self._current = b""

    @property
    def first_line(self) -> bytes:
        """The beginning (up to LINE_PREFIX_BYTES) of the first line; b"" when there is none."""
        return self._first or b""

    @property
    def last_line(self) -> bytes:
        """The beginning (up to LINE_PREFIX_BYTES) of the last line seen so far."""
        return self._last

    @property
    def ends_with_newline(self) -> bool:
        return self._last_byte == b"\n"

    @property
    def total_lines(self) -> int:
        """Lines including a final one without a newline."""
        return self.lines + (0 if self.ends_with_newline or self.bytes == 0 else 1)

    @property
    def unterminated_tail(self) -> bytes:
        """The last (up to 4 KiB of the) line when the data does not end with a newline."""
        return b"" if self.ends_with_newline else self._tail


class GzipMembersDecoder:
    """Feed raw gzip bytes; decompressed data goes to ``sink``. Call ``finish()`` at the end of the body."""

    def __init__(self, sink: NdjsonCounter) -> None:
        self._sink = sink
        self._decoder: zlib._Decompress | None = None
        self._pending = b""  # bytes seen between members (at most a partial header)
        self.members = 0

    def feed(self, data: bytes) -> None:
        buffer = self._pending + data
        self._pending = b""
        while buffer:
            if self._decoder is None:
                if len(buffer) < 2:
                    self._pending = buffer
                    return
                if buffer[:2] != _GZIP_MAGIC:
                    raise UnexpectedResponseError(
                        "the file body is not gzip (or has trailing garbage after a gzip member)"
                    )
                self._decoder = zlib.decompressobj(wbits=31)
            buffer = self._decompress(buffer)

    def _decompress(self, buffer: bytes) -> bytes:
        decoder = self._decoder
        assert decoder is not None
        try:
            out = decoder.decompress(buffer, _SLICE)
            self._sink.feed(out)
            # At a member's end the rest of the input is in unused_data (unconsumed_tail then repeats it).
            while decoder.unconsumed_tail and not decoder.eof:
                out = decoder.decompress(decoder.unconsumed_tail, _SLICE)
                self._sink.feed(out)
        except zlib.error as exc:
            raise UnexpectedResponseError(f"the file's gzip data is corrupt: {exc}") from None
        if decoder.eof:
            self.members += 1
            self._decoder = None
            return decoder.unused_data
        return b""

    def finish(self) -> None:
        """Raise if the body ended inside a gzip member (a truncated download)."""
        if self._decoder is not None:
            with contextlib.suppress(zlib.error):
                self._sink.feed(self._decoder.flush())
            raise TransientError("the file's gzip stream ended mid-member: the download was cut short")
        if self._pending:
            raise TransientError("the file ended with a partial gzip header: the download was cut short")
        if self.members == 0:
            raise UnexpectedResponseError("the file body is empty: no gzip member at all")
