"""Serving one stored file: gzip or identity, ranges, and the injected download faults.

Each server differs (BCDA, AB2D, SMART); the differences are a `DownloadPolicy`, not code paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from local.emulator.files import EMPTY_GZIP_MEMBER, StoredFile
from local.emulator.wire import Request, Response

NDJSON = "application/fhir+ndjson"


@dataclass(frozen=True)
class DownloadPolicy:
    gzip_match: str  # "substring" (BCDA), "exact-token" (AB2D), "qvalue" (standard)
    ranges: str  # "gzip-only" (BCDA), "none" (AB2D), "both" (SMART)
    content_length: bool  # False: chunked (BCDA and AB2D send no Content-Length)
    extra_member: bool  # BCDA's trailing empty gzip member


def wants_gzip(accept_encoding: str | None, how: str) -> bool:
    value = (accept_encoding or "").lower()
    if how == "substring":  # BCDA: any Accept-Encoding value containing "gzip"
        return "gzip" in value
    tokens = [token.strip() for token in value.split(",")]
    if how == "exact-token":  # AB2D: a comma token equal to "gzip"; "gzip;q=1.0" does not count
        return "gzip" in tokens
    for token in tokens:
        name, _, params = token.partition(";")
        if name.strip() in ("gzip", "*"):
            match = re.search(r"q=([0-9.]+)", params)
            return not match or float(match.group(1)) > 0
    return False


def parse_range(header: str | None, length: int) -> tuple[int, int] | str | None:
    """(start, end exclusive), None without a usable Range, or "unsatisfiable"."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header or "")
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.groups()
    if not first:
        suffix = int(last)
        return (max(length - suffix, 0), length) if suffix else "unsatisfiable"
    start = int(first)
    end = min(int(last) + 1, length) if last else length
    if start >= length or end <= start:
        return "unsatisfiable"
    return start, end


def _with_tail(chunks: Iterator[memoryview], tail: bytes) -> Iterator[bytes | memoryview]:
    yield from chunks
    if tail:
        yield tail


def serve(
    request: Request,
    stored: StoredFile,
    policy: DownloadPolicy,
    headers: list[tuple[str, str]],
    fault: str | None = None,
    *,
    range_reply: str = "honour",
    drop_point: str = "middle",
) -> Response:
    """The response for one GET/HEAD of `stored`. `fault`: "drop" or "truncate" (scenarios).
    `range_reply`: "other-encoding" answers a Range with a 206 of the identity body from that offset,
    "ignore" with a 200 of the whole body (Accept-Ranges still advertised). `drop_point`
    "trailing-member": a dropped connection breaks inside BCDA's trailing empty gzip member."""
    gz = wants_gzip(request.header("Accept-Encoding"), policy.gzip_match)
    headers = [*headers, ("Content-Type", NDJSON)]
    tail = EMPTY_GZIP_MEMBER if gz and policy.extra_member and stored.gzip_on_disk else b""
    total = stored.gz_length if gz else stored.digests.raw_length
    status, start, end = 200, 0, total
    if policy.ranges == "both" or (policy.ranges == "gzip-only" and gz):
        headers.append(("Accept-Ranges", "bytes"))
        wanted = parse_range(request.header("Range"), total)
        if wanted == "unsatisfiable":
            return Response(416, [*headers, ("Content-Range", f"bytes */{total}")])
        if isinstance(wanted, tuple) and range_reply == "other-encoding" and gz:
            raw_total = stored.digests.raw_length
            first = min(wanted[0], raw_total - 1)
            headers.append(("Content-Range", f"bytes {first}-{raw_total - 1}/{raw_total}"))
            return Response(206, headers, stream=iter(stored.raw_chunks(first)))
        if isinstance(wanted, tuple) and range_reply == "honour":
            status, (start, end) = 206, wanted
            headers.append(("Content-Range", f"bytes {start}-{end - 1}/{total}"))
    if gz:
        headers.append(("Content-Encoding", "gzip"))
        body: Iterator[bytes | memoryview] = _with_tail(stored.gz_chunks(start, end), tail)
    else:
        body = iter(stored.raw_chunks(start)) if end == total else _limit(stored.raw_chunks(start), end - start)
    size = end - start + len(tail)
    response = Response(status, headers, stream=body, content_length=size if policy.content_length else None)
    if fault == "drop":
        inside_tail = drop_point == "trailing-member" and len(tail) > 1
        response.cut_after = (end - start) + len(tail) // 2 if inside_tail else max(size // 2, 1)
    elif fault == "truncate":
        response.stream = _limit(body, max(size // 2, 1))
        if policy.content_length:
            response.content_length = max(size // 2, 1)
    return response


def _limit(chunks: Iterator[bytes | memoryview], limit: int) -> Iterator[bytes | memoryview]:
    left = limit
    for chunk in chunks:
        if left <= 0:
            return
        piece = memoryview(chunk)[:left] if len(chunk) > left else chunk
        left -= len(piece)
        yield piece
