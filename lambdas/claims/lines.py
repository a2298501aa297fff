"""The lines of a landed file, each read with a bound: a line longer than the bound is skipped to
its end and reported, never held whole (one 1 GiB line would otherwise need three times that in a
1,769 MB function, and block the source's runs for good)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

#: The longest line curated. BFD's largest ExplanationOfBenefit (an inpatient claim of many lines)
#: is well under a megabyte; parsing and digesting a line costs a few times its size.
MAX_LINE_BYTES = 64 << 20
_SKIP_CHUNK = 1 << 20


class LineReader(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """A line that was not read: its length (newline included) and the bound it passed."""

    length: int
    limit: int

    @property
    def reason(self) -> str:
        return f"line of {self.length:,} bytes is longer than the {self.limit:,} the curation reads"


def bounded_lines(stream: LineReader, limit: int = MAX_LINE_BYTES) -> Iterator[bytes | LineTooLong]:
    """``stream``'s lines (a gzip file, a BufferedReader), or a LineTooLong for each one over ``limit``
    bytes (not counting its newline); memory stays within ``limit`` whatever the file holds."""
    while line := stream.readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        length = len(line)
        del line
        while rest := stream.readline(_SKIP_CHUNK):
            length += len(rest)
            if rest.endswith(b"\n"):
                break
        yield LineTooLong(length, limit)
