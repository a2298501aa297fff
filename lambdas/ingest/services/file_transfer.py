"""Streaming one server file into the landing bucket: bounded memory, verified, resumable.

The body is kept exactly as received when the server sent gzip (what we asked for), and gzipped
on the fly when it sent identity. On the side, a multi-member gzip decoder counts NDJSON lines and
checks the stream is whole. A broken connection resumes with Range when the server honours it,
and restarts cleanly when it does not. When the Lambda's time runs short, the bytes so far are
stored as a checkpoint for the next invocation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from bulkfhir import BulkDataClient, GzipMembersDecoder, NdjsonCounter, TransientError
from bulkfhir._http import strip_query
from ingest.errors import VerificationError
from ingest.payloads import Checkpoint, FileItem
from ingest.ports import Landing, ObjectWriter

logger = logging.getLogger(__name__)

#: Broken connections survived within one invocation before the error goes to the state machine.
MAX_RESUMES = 3
#: Checkpoint when less than this much Lambda time is left.
CHECKPOINT_MARGIN_SECONDS = 60.0
#: An invocation checkpoints only after fetching at least this much itself: every hand-over must
#: make progress (the next one re-reads the prefix), and below it restarting costs less.
MIN_CHECKPOINT_BYTES = 1024 * 1024


class _Digest:
    """sha256 of the landed bytes plus line counting of the NDJSON inside them."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.sha256 = hashlib.sha256()
        self.counter = NdjsonCounter()
        self._decoder = GzipMembersDecoder(self.counter) if encoding == "gzip" else None
        # identity bodies are gzipped here, so that every landed object is .ndjson.gz
        self._compressor = zlib.compressobj(6, zlib.DEFLATED, 31) if encoding == "identity" else None

    def take(self, chunk: bytes) -> bytes:
        """Account for a received chunk; returns the bytes to land."""
        if self._decoder is not None:
            self._decoder.feed(chunk)
            landed = chunk
        else:
            assert self._compressor is not None
            self.counter.feed(chunk)
            landed = self._compressor.compress(chunk)
        self.sha256.update(landed)
        return landed

    def finish(self) -> bytes:
        """End of body: raises on a truncated gzip stream; returns any last bytes to land."""
        if self._decoder is not None:
            self._decoder.finish()
            return b""
        assert self._compressor is not None
        tail = self._compressor.flush()
        self.sha256.update(tail)
        return tail


@dataclass(frozen=True)
class Landed:
    bytes: int
    lines: int
    sha256: str


def _verify(item: FileItem, digest: _Digest, received_bytes: int, sha256: str) -> None:
    expected = item.expected
    problems = []
    # The manifest's checksum and length describe the server's stored (.gz) file: comparable only
    # when we received those bytes, i.e. the server sent gzip.
    if digest.encoding == "gzip":
        if "length" in expected and int(expected["length"]) != received_bytes:
            problems.append(f"length {received_bytes} bytes, the manifest says {expected['length']}")
        if "sha256" in expected and str(expected["sha256"]).lower() != sha256:
            problems.append("sha256 differs from the manifest's checksum")
    if "count" in expected and int(expected["count"]) != digest.counter.total_lines:
        problems.append(f"{digest.counter.total_lines} lines, the manifest says {expected['count']} resources")
    tail = digest.counter.unterminated_tail
    if tail and len(tail) < 4096:
        try:
            json.loads(tail)
        except ValueError:
            problems.append("the last line is an incomplete JSON resource")
    if problems:
        raise VerificationError(
            f"{item.type} file #{item.index} ({strip_query(item.url)}) failed verification: {'; '.join(problems)}"
        )


class FileTransfer:
    def __init__(
        self,
        client: BulkDataClient,
        landing: Landing,
        item: FileItem,
        staging_key: str,
        seconds_left: Callable[[], float],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._landing = landing
        self._item = item
        self._staging_key = staging_key
        self._seconds_left = seconds_left
        self._sleep = sleep
        self._upload: ObjectWriter | None = None
        self._digest: _Digest | None = None
        self._offset = 0
        self._fetched = 0  # body bytes received by this invocation
        self.resumes = 0

    def run(self, checkpoint: Checkpoint | None, metadata: dict[str, str]) -> Landed | Checkpoint:
        try:
            return self._run(checkpoint, metadata)
        except BaseException:
            if self._upload is not None:
                self._upload.abort()
            raise

    def _start_over(self) -> ObjectWriter:
        if self._upload is not None:
            self._upload.abort()
        self._upload = self._landing.open_upload(self._staging_key)
        self._digest, self._offset = None, 0
        return self._upload

    def _restore(self, checkpoint: Checkpoint) -> None:
        # Rebuild hash and gzip state from the bytes an earlier invocation stored (read back in-region).
        upload = self._start_over()
        digest = self._digest = _Digest("gzip")
        for chunk in self._landing.read_stream(checkpoint.staging_key, 1 << 20):
            upload.write(digest.take(chunk))
        if upload.size != checkpoint.offset:
            raise TransientError(
                f"the checkpoint of file #{self._item.index} holds {upload.size} bytes, expected {checkpoint.offset}"
            )
        self._offset = checkpoint.offset

    def _run(self, checkpoint: Checkpoint | None, metadata: dict[str, str]) -> Landed | Checkpoint:
        if checkpoint:
            self._restore(checkpoint)
        else:
            self._start_over()
        while True:
            try:
                paused = self._stream()
            except TransientError as error:
                self.resumes += 1
                if self.resumes > MAX_RESUMES or error.bytes_received is None:
                    raise
                logger.warning(
                    "download broke; %s",
                    "resuming with Range" if self._offset else "restarting",
                    extra={"offset": error.bytes_received, "attempt": self.resumes},
                )
                self._sleep(min(2.0 * self.resumes, 10.0))
                continue
            if paused is not None:
                return paused
            return self._land(metadata)

    def _stream(self) -> Checkpoint | None:
        """Stream from ``self._offset`` to the end of the body (or to a checkpoint)."""
        item = self._item
        with self._client.open_file(item.url, requires_token=item.requires_token, start=self._offset) as download:
            if download.start != self._offset or (
                self._digest is not None and self._digest.encoding != download.content_encoding
            ):
                # The server ignored our Range (or changed encoding): start over from byte 0.
                self._start_over()
            upload = self._upload
            assert upload is not None
            if self._digest is None:
                self._digest = _Digest(download.content_encoding)
            digest = self._digest
            resumable = download.accepts_ranges and digest.encoding == "gzip"
            try:
                for chunk in download.iter_raw():
                    upload.write(digest.take(chunk))
                    self._offset += len(chunk)
                    self._fetched += len(chunk)
                    if (
                        resumable
                        and self._fetched >= MIN_CHECKPOINT_BYTES
                        and self._seconds_left() < CHECKPOINT_MARGIN_SECONDS
                    ):
                        key = upload.checkpoint()
                        self._upload = None
                        logger.info("time is short; checkpointed the file", extra={"offset": self._offset})
                        return Checkpoint(staging_key=key, offset=self._offset)
            except TransientError:
                if not resumable:
                    # No Range on this server (AB2D, identity bodies): the next attempt starts at byte 0.
                    self._start_over()
                raise
        return None

    def _land(self, metadata: dict[str, str]) -> Landed:
        digest, upload = self._digest, self._upload
        assert digest is not None and upload is not None
        tail = digest.finish()
        if tail:
            upload.write(tail)
        sha256 = digest.sha256.hexdigest()
        _verify(self._item, digest, self._offset, sha256)
        landed = Landed(bytes=upload.size, lines=digest.counter.total_lines, sha256=sha256)
        upload.land(
            self._item.key, {**metadata, "lines": str(landed.lines), "sha256": sha256, "bytes": str(landed.bytes)}
        )
        self._upload = None
        return landed
