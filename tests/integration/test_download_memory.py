"""A 2 GB file streams through the real download handler with flat memory.

The emulator and moto (as a server) run in their own processes, so that what is measured is the
handler's process alone: moto keeps whole objects in memory when it completes a multipart upload.
The figures are printed (pytest -s) and reported in the closing note; the bound asserted is generous.
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

GZ_TARGET_BYTES = 2 * 1024**3  # the streamed (gzip) body
NDJSON_MB = 2850  # the emulator's large files compress to ~72 % (random base64 padding)


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
    process = subprocess.Popen(
        [sys.executable, "-m", "local.cli", "emulator", "--flavor", "bcda", "--scenario", "large-files",
         "--file-mb", str(NDJSON_MB), "--large-file-count", "1", "--patients", "10"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    yield json.loads(process.stdout.readline())
    process.terminate()
    process.wait(timeout=30)


@pytest.mark.slow
def test_a_2_gb_file_keeps_the_handlers_memory_flat(moto_server, emulator, monkeypatch):
    from bulkfhir import BulkDataClient, ClientCredentials, ExportComplete, ServerConfig
    from ingest.handlers.download_file import handler
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
    credentials = {"client_id": emulator["client_id"], "client_secret": emulator["client_secret"]}
    secret_arn = boto3.client("secretsmanager").create_secret(Name="bcda", SecretString=json.dumps(credentials))["ARN"]
    sources = {"bcda": {"api": "bcda", "base_url": emulator["base_url"], "secret_arn": secret_arn}}
    monkeypatch.setenv("BULK_TABLE_NAME", "ingest")
    monkeypatch.setenv("BULK_BUCKET_NAME", "landing")
    monkeypatch.setenv("BULK_SOURCES", json.dumps(sources))
    load_settings.cache_clear()
    container.cache_clear()

    client = BulkDataClient(
        ServerConfig(api="bcda", base_url=emulator["base_url"]), ClientCredentials.from_mapping(credentials)
    )
    status_url = client.kick_off(__import__("bulkfhir").ExportRequest(target="Group/all")).status_url
    while not isinstance(status := client.check_status(status_url), ExportComplete):
        pass
    big = next(f for f in status.manifest.output if f.type == "ExplanationOfBenefit")
    run = {"run_id": "r1", "source": "bcda", "scope": "Group/all", "export": "Group/all", "types": [], "since": None,
           "until": None, "type_filters": [], "run_date": "2026-11-25", "started_at": "x", "watermark_before": None,
           "download_concurrency": 1}  # fmt: skip
    key = "fhir/bcda/ExplanationOfBenefit/run_date=2026-11-25/r1/ExplanationOfBenefit-0001.ndjson.gz"
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
    size = landed["ContentLength"]
    assert result["status"] == "landed"
    assert size >= GZ_TARGET_BYTES
    assert int(landed["Metadata"]["bytes"]) == size and int(landed["Metadata"]["lines"]) > 0
    print(
        f"\nstreamed {size / 1024**3:.2f} GiB (gzip) in {wall:.1f} s ({size / wall / 1e6:.0f} MB/s, "
        f"{cpu:.1f} CPU s): peak Python memory of the handler {peak / 1024**2:.1f} MiB, "
        f"process peak RSS {'n/a' if rss_growth is None else f'+{rss_growth / 1024**2:.0f} MiB'} over its start"
    )
    # one 8 MiB part in the buffer, its copy on the way to S3, and read/decode slices
    assert peak < 64 * 1024**2
    if rss_growth is not None:
        assert rss_growth < 256 * 1024**2
