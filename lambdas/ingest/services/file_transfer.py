"""Streaming one server file into the landing bucket: bounded memory, verified, resumable.

The body is kept exactly as received when the server sent gzip (what we asked for), and gzipped
on the fly when it sent identity. On the side, a multi-member gzip decoder counts NDJSON lines and
checks the stream is whole. A broken connection resumes with Range when the server honours it,
and restarts cleanly when it does not. When the Lambda's time runs short, the bytes so far are
stored as a checkpoint for the next invocation.

A resume is trusted only when the server answers it exactly as asked: a 206 from the offset we
asked for, in the encoding the first bytes came in. Anything else (a 200 instead, another encoding,
a 416 inside BCDA's trailing empty gzip member) starts the file over without Range, and a server
that ignored a Range once is never asked for one again for that file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from bulkfhir import (
    BulkDataClient,
    ExportGoneError,
    FileDownload,
    GzipMembersDecoder,
    NdjsonCounter,
    OutcomeTally,
    TransientError,
    UnexpectedResponseError,
    request_seconds_at_most,
)
from bulkfhir._http import strip_query
from bulkfhir.gzipstream import LINE_PREFIX_BYTES
from ingest.errors import VerificationError
from ingest.payloads import Checkpoint, FileItem
from ingest.ports import Landing, ObjectWriter

logger = logging.getLogger(__name__)

#: Broken connections survived within one invocation before the error goes to the state machine.
MAX_RESUMES = 3
#: Checkpoint when less than this much Lambda time is left: one read may still block for the client's
#: read timeout (30 s) after the check, and the checkpoint itself is an S3 upload.
CHECKPOINT_MARGIN_SECONDS = 90.0
#: A broken download is resumed in this invocation only when this many requests can still run to their
#: bound (a token refresh and the file, twice): else the state machine's retry resumes it afresh.
RESUME_REQUESTS = 4
#: An invocation checkpoints only after fetching at least this much itself: every hand-over must
#: make progress (the next one re-reads the prefix), and below it restarting costs less.
MIN_CHECKPOINT_BYTES = 1024 * 1024


class _Digest:
    """sha256 of the landed bytes plus line counting of the NDJSON inside them (and, for an error file,
    what its OperationOutcomes say)."""

    def __init__(self, encoding: str, tally: OutcomeTally | None = None) -> None:
        self.encoding = encoding
        self.sha256 = hashlib.sha256()
        self.tally = tally
        self.counter = NdjsonCounter(on_line=tally.feed if tally is not None else None)
        self._decoder = GzipMembersDecoder(self.counter) if encoding == "gzip" else None
        # identity bodies are gzipped here, so that every landed object is .ndjson.gz; their own
        # hash is kept too, to hold them to a checksum the manifest gives
        self._compressor = zlib.compressobj(6, zlib.DEFLATED, 31) if encoding == "identity" else None
        self.received_sha256 = hashlib.sha256() if encoding == "identity" else self.sha256

    def take(self, chunk: bytes) -> bytes:
        """Account for a received chunk; returns the bytes to land."""
        if self._decoder is not None:
            self._decoder.feed(chunk)
            landed = chunk
        else:
            assert self._compressor is not None
            self.counter.feed(chunk)
            self.received_sha256.update(chunk)
            landed = self._compressor.compress(chunk)
        self.sha256.update(landed)
        return landed

    def finish(self) -> bytes:
        """End of body: raises on a truncated gzip stream; returns any last bytes to land."""
        if self._decoder is not None:
            self._decoder.finish()
            self.counter.finish()
            return b""
        assert self._compressor is not None
        self.counter.finish()
        tail = self._compressor.flush()
        self.sha256.update(tail)
        return tail


@dataclass(frozen=True)
class Landed:
    bytes: int
    lines: int
    sha256: str
    #: what the manifest claimed that the file does not bear out, recorded rather than enforced
    mismatch: str | None = None
    #: an error file's OperationOutcomes that report output the export does not hold (bulkfhir.outcomes)
    failed_outputs: int = 0
    failed_types: tuple[str, ...] = ()


def landed_metadata(landed: Landed) -> dict[str, str]:
    """What the landed object's metadata says of it: enough to rebuild its ledger record."""
    metadata = {"lines": str(landed.lines), "sha256": landed.sha256, "bytes": str(landed.bytes)}
    if landed.failed_outputs:
        metadata["failed-outputs"] = str(landed.failed_outputs)
        metadata["failed-types"] = ",".join(landed.failed_types)[:400]
    return metadata


def landed_from_metadata(metadata: dict[str, str]) -> Landed:
    """The inverse of ``landed_metadata``, for a file landed by an invocation that died before its record."""
    failed = metadata.get("failed-outputs", "0")
    return Landed(
        bytes=int(metadata.get("bytes", "0") or 0),
        lines=int(metadata["lines"]),
        sha256=metadata["sha256"],
        failed_outputs=int(failed) if failed.isdigit() else 0,
        failed_types=tuple(t for t in metadata.get("failed-types", "").split(",") if t),
    )


class DownloadBudget:
    """The download requests one file may take, counted in the run ledger across invocations, task
    retries and verification retries: AB2D serves a file at most six times (its 7th download answers
    500), so a flaky file must not spend them all. One is kept in reserve."""

    def __init__(self, count: Callable[[], int], server_limit: int | None, what: str) -> None:
        self._count = count
        self.limit = server_limit - 1 if server_limit else None
        self.server_limit = server_limit
        self._what = what
        self.used = 0

    def spend(self) -> None:
        self.used = self._count()
        if self.limit is not None and self.used > self.limit:
            raise ExportGoneError(
                f"{self._what} has been requested {self.used - 1} times; the server allows "
                f"{self.server_limit} downloads per file and one is kept in reserve, so it is not fetched again. "
                "Re-run: a new export serves new files"
            )


class _RestartWithoutRange(Exception):
    """The server's answer to a Range request cannot continue what we have: fetch the file from byte 0."""


#: A FHIR resource's type, where serializers write it: first. Used on a line too long to keep whole.
_LEADING_TYPE = re.compile(rb'^\s*\{\s*"resourceType"\s*:\s*"([A-Za-z]+)"')


def _resource_type(line: bytes) -> str | None:
    """The resourceType of an NDJSON line, or None when it is not a FHIR resource."""
    if len(line) >= LINE_PREFIX_BYTES:  # only its beginning was kept
        match = _LEADING_TYPE.match(line)
        return match.group(1).decode() if match else None
    try:
        resource = json.loads(line)
    except ValueError:
        return None
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    return kind if isinstance(kind, str) else None


def _content_problems(item: FileItem, counter: NdjsonCounter) -> list[str]:
    """The first and last lines must be FHIR resources of the listed type: a block page, a login page
    or any other text that ends in a newline would otherwise pass for the file."""
    problems = []
    for where, line in (("first", counter.first_line), ("last", counter.last_line)):
        if not line.strip():
            continue  # an empty file, or a blank last line
        found = _resource_type(line)
        if found is None:
            problems.append(f"its {where} line is not a FHIR resource (the body is not NDJSON)")
        elif item.type not in ("", "Unknown") and found != item.type:
            problems.append(f"its {where} line is a {found}, the manifest lists a {item.type} file")
        if where == "first" and problems:
            break  # one look at the first line says it all
    return problems


def _checksum_problems(expected: dict[str, object], digest: _Digest, received_bytes: int) -> list[str]:
    """The manifest's checksum and length describe the server's stored file (AB2D: its .gz). They are
    held to the bytes as received, whatever the encoding: a body the server sent uncompressed although
    gzip was asked for cannot be shown to be the file the checksum describes, and does not land."""
    problems = []
    received_sha256 = digest.received_sha256.hexdigest()
    if "length" in expected and int(str(expected["length"])) != received_bytes:
        problems.append(f"length {received_bytes} bytes, the manifest says {expected['length']}")
    if "sha256" in expected and str(expected["sha256"]).lower() != received_sha256:
        problems.append("sha256 differs from the manifest's checksum")
    if problems and digest.encoding == "identity":
        problems.append(
            "the server sent it uncompressed although gzip was asked for, and the manifest's checksum "
            "describes its stored (gzip) file: a proxy that decompresses responses would do this"
        )
    return problems


def _verify(item: FileItem, digest: _Digest, received_bytes: int) -> str | None:
    """Raise VerificationError when the file is not what the manifest says; return a mismatch that is
    recorded without failing (a count on a file that is not output), or None."""
    expected = item.expected
    problems = _checksum_problems(expected, digest, received_bytes)
    mismatch = None
    if "count" in expected and int(expected["count"]) != digest.counter.total_lines:
        found = f"{digest.counter.total_lines} lines, the manifest says {expected['count']} resources"
        if item.kind == "output":
            problems.append(found)
        else:
            # The SMART reference server lists a file it failed to generate under error[] with the count
            # of the output it replaces, and the error file holds one OperationOutcome (bulk-data-server
            # ExportManager, some_file_generation_failed); its client checks counts of output files only
            # (bulk-data-client downloadFile, expectedCount). Enforced, it would fail every re-run too.
            mismatch = f"{item.kind} file: {found}"
    tail = digest.counter.unterminated_tail
    if tail and len(tail) < 4096:
        try:
            json.loads(tail)
        except ValueError:
            problems.append("the last line is an incomplete JSON resource")
    problems += _content_problems(item, digest.counter)
    if problems:
        raise VerificationError(
            f"{item.type} file #{item.index} ({strip_query(item.url)}) failed verification: {'; '.join(problems)}"
        )
    return mismatch


class FileTransfer:
    def __init__(
        self,
        client: BulkDataClient,
        landing: Landing,
        item: FileItem,
        staging_key: str,
        seconds_left: Callable[[], float],
        sleep: Callable[[float], None],  # Deps.sleep: a local run fast-forwards it
        *,
        url: str | None = None,
        budget: DownloadBudget | None = None,
        known_types: frozenset[str] = frozenset(),
    ) -> None:
        self._client = client
        self._landing = landing
        self._item = item
        self._url = url or item.url  # with its query string when pre-signed (never logged)
        self._staging_key = staging_key
        self._seconds_left = seconds_left
        self._sleep = sleep
        self._budget = budget or DownloadBudget(lambda: 0, None, f"file #{item.index}")
        self._upload: ObjectWriter | None = None
        self._digest: _Digest | None = None
        self._offset = 0
        self._fetched = 0  # body bytes received by this invocation
        self._use_ranges = True  # until the server mishandles one
        self._known_types = known_types  # the types a failed output's text may name
        self.resumes = 0

    def _new_digest(self, encoding: str) -> _Digest:
        tally = OutcomeTally(self._known_types) if self._item.kind == "error" else None
        return _Digest(encoding, tally)

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
        if self._landing.head_metadata(checkpoint.staging_key) is None:
            # Removed meanwhile (a lifecycle rule, a person, a retried invocation that already used it).
            logger.warning("the checkpoint is gone; the file starts over", extra={"index": self._item.index})
            return
        digest = self._digest = self._new_digest("gzip")
        for chunk in self._landing.read_stream(checkpoint.staging_key, 1 << 20):
            upload.write(digest.take(chunk))
        if upload.size != checkpoint.offset:
            logger.warning(
                "the checkpoint does not hold what was recorded; the file starts over",
                extra={"index": self._item.index, "size": upload.size, "recorded": checkpoint.offset},
            )
            self._start_over()
            return
        self._offset = checkpoint.offset

    def _run(self, checkpoint: Checkpoint | None, metadata: dict[str, str]) -> Landed | Checkpoint:
        if checkpoint:
            self._restore(checkpoint)
        else:
            self._start_over()
        while True:
            try:
                paused = self._stream()
            except _RestartWithoutRange:
                self._use_ranges = False
                self._start_over()
                continue
            except TransientError as error:
                self.resumes += 1
                if self.resumes > MAX_RESUMES or error.bytes_received is None or not self._time_to_resume():
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

    def _time_to_resume(self) -> bool:
        return self._seconds_left() > RESUME_REQUESTS * request_seconds_at_most(self._client.config)

    def _open(self) -> FileDownload:
        """One download request (counted against the file's budget), from our offset when resuming."""
        self._budget.spend()
        start = self._offset if self._use_ranges else 0
        if start == 0 and self._offset:
            self._start_over()
        try:
            return self._client.open_file(self._url, requires_token=self._item.requires_token, start=start)
        except UnexpectedResponseError as error:
            if error.status in (206, 416) and start > 0:
                # 416: BCDA serves the stored .gz and then appends an empty gzip member, so a cut inside
                # that member resumes past the file's end; 206: a range from another offset. The bytes we
                # hold cannot be trimmed or continued: start over.
                logger.warning("the server mishandled the resume; the file starts over", extra={"status": error.status})
                raise _RestartWithoutRange from None
            raise

    def _stream(self) -> Checkpoint | None:
        """Stream from ``self._offset`` to the end of the body (or to a checkpoint)."""
        with self._open() as download:
            if download.start != self._offset:
                # The server ignored our Range and sent the whole body (a 200): take it from byte 0, and
                # do not trust its Accept-Ranges for this file again (no checkpoints that restart forever).
                self._use_ranges = False
                self._start_over()
            elif self._digest is not None and self._digest.encoding != download.content_encoding:
                # A 206 in another encoding than the first bytes: its bytes do not continue ours.
                logger.warning("the resumed download changed its encoding; the file starts over")
                raise _RestartWithoutRange
            upload = self._upload
            assert upload is not None
            if self._digest is None:
                self._digest = self._new_digest(download.content_encoding)
            digest = self._digest
            resumable = self._use_ranges and download.accepts_ranges and digest.encoding == "gzip"
            try:
                for chunk in download.iter_raw():
                    upload.write(digest.take(chunk))
                    self._offset += len(chunk)
                    self._fetched += len(chunk)
                    if self._seconds_left() < CHECKPOINT_MARGIN_SECONDS:
                        paused = self._pause(upload, resumable)
                        if paused is not None:
                            return paused
            except TransientError:
                if not resumable:
                    # No Range on this server (AB2D, identity bodies): the next attempt starts at byte 0.
                    self._start_over()
                raise
        return None

    def _pause(self, upload: ObjectWriter, resumable: bool) -> Checkpoint | None:
        """Time is short: hand the bytes so far to the next invocation, when the server can continue them."""
        if resumable and self._fetched >= MIN_CHECKPOINT_BYTES:
            key = upload.checkpoint()
            self._upload = None
            logger.info("time is short; checkpointed the file", extra={"offset": self._offset})
            return Checkpoint(staging_key=key, offset=self._offset)
        if not self._use_ranges:
            raise UnexpectedResponseError(
                f"{self._item.type} file #{self._item.index} ({strip_query(self._url)}) cannot be continued in a "
                "next invocation: the server advertises byte ranges but ignored or mishandled a Range request, "
                "and the file did not finish within one invocation; report it to the server's operators",
                url=strip_query(self._url),
            )
        return None

    def _land(self, metadata: dict[str, str]) -> Landed:
        digest, upload = self._digest, self._upload
        assert digest is not None and upload is not None
        tail = digest.finish()
        if tail:
            upload.write(tail)
        sha256 = digest.sha256.hexdigest()
        mismatch = _verify(self._item, digest, self._offset)
        if mismatch:
            logger.warning("the file differs from the manifest; recorded", extra={"index": self._item.index})
        tally = digest.tally
        landed = Landed(
            bytes=upload.size,
            lines=digest.counter.total_lines,
            sha256=sha256,
            mismatch=mismatch,
            failed_outputs=tally.failed_outputs if tally else 0,
            failed_types=tuple(tally.failed_types) if tally else (),
        )
        if landed.failed_outputs:
            logger.warning(
                "the error file reports output the export does not hold",
                extra={"index": self._item.index, "failed_outputs": landed.failed_outputs},
            )
        upload.land(self._item.key, {**metadata, **landed_metadata(landed)})
        self._upload = None
        return landed
