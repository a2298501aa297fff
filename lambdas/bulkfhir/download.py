"""A streaming file download: raw body bytes (gzip as sent), never held whole in memory."""

from __future__ import annotations

from collections.abc import Iterator

import requests
import urllib3

from bulkfhir._http import strip_query
from bulkfhir.errors import TransientError, UnexpectedResponseError


class FileDownload:
    """An open file response. Iterate ``iter_raw()`` for the body exactly as sent on the wire
    (gzip bytes when ``content_encoding == "gzip"``), starting at byte ``start`` of the file."""

    def __init__(self, response: requests.Response, start: int) -> None:
        self._response = response
        self.url = strip_query(response.url or "")
        self.status = response.status_code
        self.start = start
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip"):
            response.close()
            raise UnexpectedResponseError(
                f"{self.url} was sent with Content-Encoding {encoding!r}; only gzip was asked for",
                status=self.status,
                url=self.url,
            )
        self.content_encoding = "gzip" if encoding in ("gzip", "x-gzip") else "identity"
        length = response.headers.get("Content-Length")
        self.content_length = int(length) if length and length.isdigit() else None
        self.accepts_ranges = response.headers.get("Accept-Ranges", "").strip().lower() == "bytes" or (
            self.status == 206
        )
        self.etag = response.headers.get("ETag")
        self.bytes_read = 0

    def iter_raw(self, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        """Body bytes as sent. A broken connection raises TransientError with ``bytes_received``
        = the file offset reached (``start`` + bytes yielded), for a Range resume. urllib3 drops the
        partial read in progress when a connection breaks, so small reads bound what a resume re-fetches."""
        try:
            for chunk in self._response.raw.stream(chunk_size, decode_content=False):
                if chunk:
                    self.bytes_read += len(chunk)
                    yield chunk
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            raise TransientError(
                f"the download of {self.url} broke after {self.start + self.bytes_read} bytes ({type(exc).__name__})",
                url=self.url,
                bytes_received=self.start + self.bytes_read,
            ) from None
        if self.content_length is not None and self.bytes_read < self.content_length:
            raise TransientError(
                f"the download of {self.url} ended after {self.bytes_read} of {self.content_length} bytes",
                url=self.url,
                bytes_received=self.start + self.bytes_read,
            )

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> FileDownload:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FileDownload(url={self.url!r}, status={self.status}, encoding={self.content_encoding!r})"
