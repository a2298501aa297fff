"""Benchmark: one large file, curl against our download pipeline, on the same emulator.

    .venv/bin/python benchmarks/bench_file_transfer.py [--file-mb 1024]

Rows: curl (gzip, to /dev/null); the bulkfhir client alone (bytes read and dropped); the whole
download pipeline of the Download file step (gzip member decoding and line counting, sha256, the
verification, part buffering) landing into a sink that drops the parts; the same pipeline into S3
emulated by a moto server in its own process (moto, not our code, then sets the pace). Each row
reports wall time, MB/s of the gzip body, CPU seconds per GB of gzip and the process's peak RSS.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

import boto3

from benchmarks.measure import peak_rss_mib, reset_peak_rss
from bulkfhir import BulkDataClient, ClientCredentials, ExportComplete, ExportRequest, ServerConfig
from ingest.adapters.s3_landing import S3Landing
from ingest.payloads import FileItem
from ingest.services.file_transfer import FileTransfer


class DroppingUpload:
    """A landing upload that counts the bytes and drops them (to time our pipeline alone)."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)

    def checkpoint(self) -> str:
        return "dropped"

    def land(self, key: str, metadata: dict[str, str]) -> None:
        pass

    def abort(self) -> None:
        pass


class DroppingLanding:
    def open_upload(self, staging_key: str) -> DroppingUpload:
        return DroppingUpload()

    def read_stream(self, key: str, chunk_size: int) -> Iterator[bytes]:
        return iter(())


def measure(label: str, size: int, work: Callable[[], Any], rows: list[str], children: bool = False) -> None:
    reset_peak_rss()
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    before = resource.getrusage(who)
    started = time.monotonic()
    work()
    wall = time.monotonic() - started
    after = resource.getrusage(who)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rss = "" if children else f"{peak_rss_mib():.0f}"
    rows.append(f"{label:44}{wall:>8.1f}{size / wall / 1e6:>9.0f}{cpu / (size / 1e9):>10.1f}{rss:>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file-mb", type=float, default=1024, help="NDJSON MB of the file (default 1024)")
    args = parser.parse_args()

    emulator = subprocess.Popen(
        [sys.executable, "-m", "local.cli", "emulator", "--flavor", "bcda", "--scenario", "large-files",
         "--file-mb", str(args.file_mb), "--large-file-count", "1", "--patients", "10"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert emulator.stdout is not None
    server = json.loads(emulator.stdout.readline())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    rows: list[str] = []
    try:
        credentials = {"client_id": server["client_id"], "client_secret": server["client_secret"]}
        client = BulkDataClient(
            ServerConfig(api="bcda", base_url=server["base_url"]), ClientCredentials.from_mapping(credentials)
        )
        status_url = client.kick_off(ExportRequest(target="Group/all")).status_url  # type: ignore[union-attr]
        while not isinstance(status := client.check_status(status_url), ExportComplete):
            pass
        url = next(f.url for f in status.manifest.output if f.type == "ExplanationOfBenefit")
        with client.open_file(url) as download:
            size = sum(len(chunk) for chunk in download.iter_raw(1 << 20))
        token = client._tokens.get().value.reveal()
        item = FileItem(1, "output", "ExplanationOfBenefit", url, "fhir/x.ndjson.gz", True)

        def curl() -> None:
            subprocess.run(["curl", "-sf", "-H", f"Authorization: Bearer {token}", "-H", "Accept-Encoding: gzip",
                            "-o", os.devnull, url], check=True)  # fmt: skip

        def client_only() -> None:
            with client.open_file(url) as download:
                for _ in download.iter_raw():
                    pass

        def pipeline(landing: Any) -> Callable[[], None]:
            return lambda: FileTransfer(client, landing, item, "staging/x", lambda: 900.0, time.sleep).run(None, {})

        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip
        for _ in range(50):
            with suppress(Exception):
                s3.create_bucket(Bucket="landing")
                break
            time.sleep(0.1)

        measure("curl (gzip to /dev/null)", size, curl, rows, children=True)
        measure("bulkfhir client, bytes dropped", size, client_only, rows)
        measure("download pipeline, parts dropped", size, pipeline(DroppingLanding()), rows)
        measure("download pipeline into moto S3 (server)", size, pipeline(S3Landing(s3, "landing")), rows)
    finally:
        for process in (emulator, moto):
            process.terminate()
            process.wait(timeout=30)
    print(f"one file: {size / 1e9:.2f} GB gzip ({args.file_mb:.0f} MB NDJSON, large-files scenario)")
    print(f"{'':44}{'wall s':>8}{'MB/s':>9}{'CPU s/GB':>10}{'RSS MiB':>10}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
