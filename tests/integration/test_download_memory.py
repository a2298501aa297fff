"""A file streams through the real download handler with flat memory: the handler's peak memory
does not grow with the file (a file 4 times larger peaks no higher), and stays within a few parts.

The emulator and moto (as a server) run in their own processes, so that what is measured is the
handler's process alone: moto keeps whole objects in memory when it completes a multipart upload.
Memory is measured as a slope over two sizes rather than at one large size (a 2 GB file took 83 s
of the suite); ``benchmarks/bench_file_transfer.py`` streams 1 GB and prints its figures.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.runner.lambdas import LambdaContext

#: NDJSON sizes of the emulator's large file: they compress to ~72 % (random base64 padding), so
#: about 46 and 184 MB of gzip, each many 8 MiB parts
NDJSON_MB = (64, 256)


def _peak_rss_since_reset() -> int | None:
    """VmHWM (peak resident set) in bytes, on Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> int | None:
    """Reset the peak-RSS mark (Linux >= 4.0) and return the current RSS it restarts from."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _peak_rss_since_reset()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def moto_server(tmp_path: Path):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def emulator():
    """Start an emulator serving one large file of the given NDJSON size; returns its details."""
    processes = []

    def start(ndjson_mb: int) -> dict[str, Any]:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.cli", "emulator", "--flavor", "bcda", "--scenario", "large-files",
             "--file-mb", str(ndjson_mb), "--large-file-count", "1", "--patients", "10"],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        processes.append(process)
        assert process.stdout is not None
        return dict(json.loads(process.stdout.readline()))

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=30)


def test_the_handlers_memory_stays_flat_whatever_the_files_size(moto_server, emulator, monkeypatch):
    from ingest.settings import load_settings
    from ingest.wiring import container

    for name, value in {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="landing")
    boto3.client("dynamodb").create_table(
        TableName="ingest",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("BULK_TABLE_NAME", "ingest")
    monkeypatch.setenv("BULK_BUCKET_NAME", "landing")

    measured = []
    for ndjson_mb in NDJSON_MB:
        server = emulator(ndjson_mb)
        credentials = {"client_id": server["client_id"], "client_secret": server["client_secret"]}
        secret = boto3.client("secretsmanager").create_secret(
            Name=f"bcda-{ndjson_mb}", SecretString=json.dumps(credentials)
        )
        sources = {"bcda": {"api": "bcda", "base_url": server["base_url"], "secret_arn": secret["ARN"]}}
        monkeypatch.setenv("BULK_SOURCES", json.dumps(sources))
        load_settings.cache_clear()
        container.cache_clear()
        measured.append(_stream_one_file(s3, server, credentials, f"r{ndjson_mb}"))

    (small, small_peak, small_rss), (large, large_peak, large_rss) = measured
    assert large > 3 * small > 100 * 1024**2  # each of many 8 MiB parts
    # one 8 MiB part in the buffer, its copy on the way to S3, and read/decode slices: whatever the size
    assert small_peak < 64 * 1024**2 and large_peak < 64 * 1024**2
    assert large_peak < small_peak + 8 * 1024**2  # 4 times the bytes, no more memory (within a part)
    if small_rss is not None and large_rss is not None:
        assert large_rss < 256 * 1024**2


def _stream_one_file(
    s3: Any, server: dict[str, Any], credentials: dict[str, str], run_id: str
) -> tuple[int, int, int | None]:
    """The server's large file through the download handler: (gzip bytes landed, peak Python memory,
    peak RSS growth of the process)."""
    from bulkfhir import BulkDataClient, ClientCredentials, ExportComplete, ExportRequest, ServerConfig
    from ingest.handlers.download_file import handler

    client = BulkDataClient(
        ServerConfig(api="bcda", base_url=server["base_url"]), ClientCredentials.from_mapping(credentials)
    )
    status_url = client.kick_off(ExportRequest(target="Group/all")).status_url
    while not isinstance(status := client.check_status(status_url), ExportComplete):
        pass
    big = next(f for f in status.manifest.output if f.type == "ExplanationOfBenefit")
    run = {"run_id": run_id, "source": "bcda", "scope": "Group/all", "export": "Group/all", "types": [], "since": None,
           "until": None, "type_filters": [], "run_date": "2026-11-25", "started_at": "x", "watermark_before": None,
           "download_concurrency": 1}  # fmt: skip
    key = f"fhir/bcda/ExplanationOfBenefit/run_date=2026-11-25/{run_id}/ExplanationOfBenefit-0001.ndjson.gz"
    event: dict[str, Any] = {
        "file": {"index": 1, "kind": "output", "type": big.type, "url": big.url, "key": key, "requires_token": True},
        "run": run,
        "job_url": status_url,
        "transaction_time": status.manifest.transaction_time_raw,
    }
    context = LambdaContext("download_file", 1024, 900.0, "arn:aws:lambda:us-east-1:123456789012:function:dl")

    rss_before = _reset_peak_rss()
    tracemalloc.start()
    cpu, wall = time.process_time(), time.monotonic()
    result = handler(event, context)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = _peak_rss_since_reset()
    rss_growth = (rss_peak - rss_before) if rss_before and rss_peak else None

    landed = s3.head_object(Bucket="landing", Key=key)
    size = int(landed["ContentLength"])
    assert result["status"] == "landed"
    assert int(landed["Metadata"]["bytes"]) == size and int(landed["Metadata"]["lines"]) > 0
    print(
        f"\nstreamed {size / 1024**2:.0f} MiB (gzip) in {wall:.1f} s ({cpu:.1f} CPU s): peak Python memory of the "
        f"handler {peak / 1024**2:.1f} MiB, process peak RSS "
        f"{'n/a' if rss_growth is None else f'+{rss_growth / 1024**2:.0f} MiB'} over its start"
    )
    return size, peak, rss_growth
