"""How far a run's downloads have come (bytes, rate, ETA), read from what the stack itself holds, the
same way for a local run and a deployed stack.

A landed file counts with the bytes its record in the table names. A file still downloading counts
with what its staging multipart upload holds so far: the download handler streams a file larger than
one part (8 MiB) into ``staging/`` part by part, so S3 shows what has truly arrived, 8 MiB at a time,
without the handlers reporting anything. A file smaller than one part shows only once it has landed.

The total is known when the manifest lists every file's length (AB2D, DPC-like SMART servers). BCDA
and the SMART reference server list none and send no Content-Length: there, no ETA is made up.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import BotoCoreError, ClientError

from ingest.layout import staging_key

#: The rate is measured over this much of the recent past: long enough to smooth 8 MiB steps.
RATE_WINDOW_SECONDS = 30.0


def size_text(count: float) -> str:
    """Bytes in decimal units, three significant figures or so: ``740 kB``, ``12.5 MB``, ``1.23 GB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            value = count / scale
            return f"{value:.2f} {unit}" if value < 10 and unit == "GB" else f"{value:.1f} {unit}"
    return f"{int(count)} B"


def duration_text(seconds: float) -> str:
    """``45 s``, ``3 min 05 s``, ``2 h 10 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@dataclass(frozen=True)
class DownloadStatus:
    landed: int
    files: int
    #: landed bytes plus what the staging uploads hold
    received: int
    #: every file's length, when the manifest lists them all
    total: int | None
    #: bytes a second over the recent past (None until there is a past to measure)
    rate: float | None
    #: why bytes in flight are not shown (S3 not readable with these credentials), or None
    unseen: str | None = None

    def line(self) -> str:
        text = f"Download files: {self.landed} of {self.files} landed"
        if self.unseen:
            return f"{text} (bytes in flight not shown: {self.unseen})"
        text += f", {size_text(self.received)}"
        if self.landed == self.files:
            return text
        text += f" of {size_text(self.total)}" if self.total else " so far"
        if self.rate is None:
            return text
        text += f" at {size_text(self.rate)}/s"
        if self.total is None:
            return f"{text} (no ETA: the server lists no file sizes)"
        if self.rate <= 0:
            return f"{text} (no ETA while nothing arrives)"
        return f"{text}, ETA {duration_text(max(0, self.total - self.received) / self.rate)}"


class DownloadMeter:
    """Reads a run's download progress; ``s3``/``bucket`` None: files landed only (no bytes in flight)."""

    def __init__(
        self, table: Any, s3: Any = None, bucket: str | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._table, self._s3, self._bucket, self._clock = table, s3, bucket, clock
        self._run: tuple[str, str] | None = None
        self._files = 0
        self._total: int | None = None
        self._samples: deque[tuple[float, int]] = deque()
        self._received = 0
        self._unseen: str | None = None if s3 is not None and bucket else "no bucket to look at"

    def start(self, source: str, run_id: str, files: int, files_key: str | None) -> None:
        """The run's export is complete: ``files`` files are listed in ``files_key`` (files.json)."""
        self._run, self._files = (source, run_id), files
        if self._unseen is None and files_key:
            self._total = self._guarded(lambda: self._listed_total(files_key))

    def read(self) -> DownloadStatus:
        assert self._run is not None, "start() first"
        source, run_id = self._run
        landed = self._landed_bytes(run_id)
        in_flight = self._guarded(lambda: self._staged_bytes(source, run_id)) if self._unseen is None else None
        # A file's bytes leave its staging upload a moment before its record lands: never count backwards.
        self._received = max(self._received, sum(landed) + (in_flight or 0))
        now = self._clock()
        self._samples.append((now, self._received))
        while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW_SECONDS:
            self._samples.popleft()
        (then, before), rate = self._samples[0], None
        if now > then:
            rate = (self._received - before) / (now - then)
        return DownloadStatus(len(landed), self._files, self._received, self._total, rate, self._unseen)

    def _guarded(self, read: Callable[[], int | None]) -> int | None:
        # A deployed stack's bucket may be closed to the person following the run: say so once, go on.
        try:
            return read()
        except (ClientError, BotoCoreError) as error:
            code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
            self._unseen = f"S3 answered {code or type(error).__name__}"
            return None

    def _landed_bytes(self, run_id: str) -> list[int]:
        sizes: list[int] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(f"RUN#{run_id}") & Key("sk").begins_with("FILE#"),
            "ProjectionExpression": "#bytes",
            "ExpressionAttributeNames": {"#bytes": "bytes"},
        }
        while True:
            page = self._table.query(**kwargs)
            sizes += [int(item.get("bytes") or 0) for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return sizes
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _staged_bytes(self, source: str, run_id: str) -> int:
        prefix = staging_key(source, run_id, 0).rsplit("/", 1)[0] + "/"
        held = 0
        uploads = self._s3.get_paginator("list_multipart_uploads")
        parts = self._s3.get_paginator("list_parts")
        for page in uploads.paginate(Bucket=self._bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                try:
                    for listed in parts.paginate(Bucket=self._bucket, Key=upload["Key"], UploadId=upload["UploadId"]):
                        held += sum(int(part["Size"]) for part in listed.get("Parts", []))
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") != "NoSuchUpload":
                        raise  # else: completed or aborted since it was listed
        return held

    def _listed_total(self, files_key: str) -> int | None:
        body = self._s3.get_object(Bucket=self._bucket, Key=files_key)["Body"]
        try:
            items = json.loads(body.read())
        finally:
            body.close()
        lengths = [item.get("expected", {}).get("length") for item in items]
        if not lengths or any(length is None for length in lengths):
            return None
        return sum(int(length) for length in lengths)
