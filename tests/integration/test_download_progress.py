"""Downloads you can follow: files, bytes, rate and ETA while files stream into their staging uploads,
a line at least every 10 s of (fake) time, and no ETA made up when the server lists no sizes.
Against moto's S3 and DynamoDB (the stack's bucket and table), with the history of an execution that
has reached the download map."""

from __future__ import annotations

import io
import itertools
import json
import re
from typing import Any

from local.download_progress import duration_text, size_text
from local.follow import Progress
from tests.integration.conftest import BUCKET
from tests.support.execution_history import History

SOURCE, RUN = "src", "20261201T000000.000Z-abcdef"
PART = 256 * 1024
PARTS_PER_FILE = 12
FILES_KEY = f"runs/{SOURCE}/{RUN}/files.json"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _at_the_download_map(history: History, files: int) -> None:
    history.add("TaskStateExited", "Start run", output=json.dumps({"run": {"source": SOURCE, "run_id": RUN}}))
    history.add("TaskStateEntered", "Check export status")
    poll = {"state": "complete", "file_count": files, "files_key": FILES_KEY}
    history.add("TaskStateExited", "Check export status", output=json.dumps({"poll": poll}))
    history.add("MapStateEntered", "Download files")


def _files_json(s3: Any, lengths: list[int | None]) -> None:
    items = [{"index": i, "expected": {"length": n} if n is not None else {}} for i, n in enumerate(lengths)]
    s3.put_object(Bucket=BUCKET, Key=FILES_KEY, Body=json.dumps(items).encode())


def _stream_for(seconds: int, s3: Any, progress: Progress, clock: FakeClock, files: int) -> list[str]:
    """The files arrive a part every 3 s each (as the download handler writes them), the runner ticks
    every second; returns the staging uploads."""
    keys = [f"staging/{SOURCE}/{RUN}/{index:05d}.ndjson.gz" for index in range(files)]
    uploads = [s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"] for key in keys]
    parts = 0
    for second in range(1, seconds + 1):
        clock.now += 1
        if second % 3 == 0 and parts < PARTS_PER_FILE:
            parts += 1
            for key, upload in zip(keys, uploads, strict=True):
                s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=parts, Body=b"x" * PART)
        progress.tick()
    return uploads


def _bytes(text: str) -> float:
    value, unit = text.split(" ")
    return float(value) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]


def _lines(out: io.StringIO) -> list[tuple[float, str]]:
    found = [re.match(r"  \[\s*([\d.]+) s\] (.*)", line) for line in out.getvalue().splitlines()]
    return [(float(m.group(1)), m.group(2)) for m in found if m]


def test_a_35_second_download_shows_bytes_rate_and_eta_at_least_every_10_seconds(aws):
    s3, table = aws.s3, aws.table
    clock, history, out = FakeClock(), History(), io.StringIO()
    length = PART * PARTS_PER_FILE
    _files_json(s3, [length, length])
    progress = Progress(history, table, "arn:execution", out, s3=s3, bucket=BUCKET, clock=clock)
    _at_the_download_map(history, 2)
    progress.tick()
    uploads = _stream_for(35, s3, progress, clock, 2)

    said = _lines(out)
    downloads = [(at, line) for at, line in said if line.startswith("Download files: 0 of 2 landed, ")]
    with_eta = [line for _, line in downloads if re.search(r" of 6\.3 MB at [\d.]+ kB/s, ETA \d+ s$", line)]
    assert len(with_eta) >= 3, said
    moments = [0.0] + [at for at, _ in said] + [35.0]
    assert max(later - earlier for earlier, later in itertools.pairwise(moments)) <= 10
    # the bytes grow and the ETA shrinks as the parts arrive
    received = [_bytes(line.split(", ")[1].split(" of ")[0]) for line in with_eta]
    etas = [int(line.rsplit("ETA ", 1)[1].split(" ")[0]) for line in with_eta]
    assert received == sorted(received) and received[-1] > received[0]
    assert etas[-1] < etas[0]

    # both files land (their staging uploads complete and move to their keys): the line after the map,
    # before the state that follows it (Resolve claims), says so, with their bytes
    for index, upload in enumerate(uploads):
        s3.abort_multipart_upload(Bucket=BUCKET, Key=f"staging/{SOURCE}/{RUN}/{index:05d}.ndjson.gz", UploadId=upload)
        table.put_item(Item={"pk": f"RUN#{RUN}", "sk": f"FILE#{index:05d}", "bytes": length})
    history.add("MapStateExited", "Download files")
    history.add("TaskStateEntered", "Resolve claims")
    history.add("TaskStateExited", "Resolve claims")
    history.add("TaskStateEntered", "Finalize run")
    clock.now += 1
    progress.tick()
    assert [line for _, line in _lines(out)][-3:] == [
        "Download files: 2 of 2 landed, 6.3 MB", "Resolve claims", "Finalize run",
    ]  # fmt: skip


def test_without_sizes_in_the_manifest_no_eta_is_made_up(aws):
    s3, table = aws.s3, aws.table
    clock, history, out = FakeClock(), History(), io.StringIO()
    _files_json(s3, [None, None])  # BCDA lists no lengths and sends no Content-Length
    progress = Progress(history, table, "arn:execution", out, s3=s3, bucket=BUCKET, clock=clock)
    _at_the_download_map(history, 2)
    _stream_for(20, s3, progress, clock, 2)
    last = _lines(out)[-1][1]
    assert re.fullmatch(r"Download files: 0 of 2 landed, [\d.]+ MB so far at [\d.]+ kB/s \(no ETA: .+\)", last), last


def test_a_bucket_it_may_not_read_says_so_once_and_shows_the_files_landed(aws):
    s3, table = aws.s3, aws.table
    clock, history, out = FakeClock(), History(), io.StringIO()
    progress = Progress(history, table, "arn:execution", out, s3=s3, bucket="not-ours", clock=clock)
    _at_the_download_map(history, 2)
    progress.tick()
    table.put_item(Item={"pk": f"RUN#{RUN}", "sk": "FILE#00000", "bytes": 10})
    progress.tick()
    said = [line for _, line in _lines(out) if line.startswith("Download files")]
    assert said == [
        "Download files: 0 of 2 landed (bytes in flight not shown: S3 answered NoSuchBucket)",
        "Download files: 1 of 2 landed (bytes in flight not shown: S3 answered NoSuchBucket)",
    ]


def test_sizes_and_durations_read_as_a_person_writes_them():
    assert [size_text(n) for n in (512, 740_000, 12_500_000, 1_234_000_000, 98_700_000_000)] == [
        "512 B", "740.0 kB", "12.5 MB", "1.23 GB", "98.7 GB",
    ]  # fmt: skip
    assert [duration_text(s) for s in (4.6, 185, 7800)] == ["5 s", "3 min 05 s", "2 h 10 min"]
