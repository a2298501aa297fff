"""Benchmark: a large export through the whole local stack, next to curl on the same files.

    .venv/bin/python benchmarks/bench_local_run.py [--files 520] [--file-mb 2] [--concurrency 8]

The emulator runs in its own process (large-files scenario: EOB files built from pre-gzipped
members, so generating them costs nothing); the state machine, the Lambda handlers and emulated
AWS run in this process, which is what the figures measure. The local stack has moto spool objects
to disk (local/runner/world.py), so that its copy of the landed data does not count as our memory.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

from benchmarks.measure import peak_rss_mib, reset_peak_rss


def start_emulator(
    files: int, file_mb: float, patients: int | None = None
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """large-files (EOB files of file_mb MB, built instantly), or a normal population of ``patients``."""
    data = ["--patients", str(patients)] if patients else [
        "--scenario", "large-files", "--file-mb", str(file_mb), "--large-file-count", str(files), "--patients", "20"
    ]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "local.cli", "emulator", "--flavor", "bcda", *data],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())


def curl_same_files(urls: list[str], token: str, concurrency: int, workdir: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the curl processes) for fetching every URL, gzip, in parallel."""
    (workdir / "urls").write_text("\n".join(urls) + "\n")
    config = workdir / "curl.headers"
    config.write_text(f'header = "Authorization: Bearer {token}"\nheader = "Accept-Encoding: gzip"\n')
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run(
        f"xargs -P {concurrency} -n 1 curl -sf -K {config} -o /dev/null < {workdir / 'urls'}",
        shell=True, check=True,
    )  # fmt: skip
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=520, help="number of EOB files (default 520)")
    parser.add_argument("--file-mb", type=float, default=2.0, help="NDJSON MB per file (default 2)")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel downloads, both sides (default 8)")
    args = parser.parse_args()

    from bulkfhir import BulkDataClient, ClientCredentials, ServerConfig
    from local.runner.local_run import LocalRunOptions, run_local

    emulator, server = start_emulator(args.files, args.file_mb)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            options = LocalRunOptions(
                api="bcda", base_url=server["base_url"], client_id=server["client_id"],
                client_secret=server["client_secret"], out_dir=workdir / "out", wait_scale=0.0,
                concurrency=args.concurrency, source_name="bench",
            )  # fmt: skip
            reset_peak_rss()
            cpu = time.process_time()
            result = run_local(options, out=open(os.devnull, "w"))  # noqa: SIM115
            cpu = time.process_time() - cpu
            rss = peak_rss_mib()
            record = result.record
            assert record["status"] == "SUCCEEDED", record["error"]
            files = record["files"]
            gz_bytes = sum(f["bytes"] for f in files)
            ndjson_bytes = sum(len(gzip.decompress((options.out_dir / f["key"]).read_bytes())) for f in files)

            client = BulkDataClient(
                ServerConfig(api="bcda", base_url=server["base_url"]),
                ClientCredentials.from_mapping(
                    {"client_id": server["client_id"], "client_secret": server["client_secret"]}
                ),
            )
            token = client._tokens.get().value.reveal()
            curl_wall, curl_cpu = curl_same_files([f["url"] for f in files], token, args.concurrency, workdir)
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)

    gb = ndjson_bytes / 1e9
    execution = result.execution_seconds
    print(f"export: {len(files)} files, {ndjson_bytes / 1e9:.2f} GB NDJSON, {gz_bytes / 1e9:.2f} GB gzip, "
          f"concurrency {args.concurrency}")  # fmt: skip
    print(f"{'':26}{'wall s':>9}{'MB/s NDJSON':>13}{'MB/s gzip':>11}{'CPU s/GB':>10}{'peak RSS MiB':>14}")
    print(f"{'local stack: execution':26}{execution:>9.1f}{ndjson_bytes / execution / 1e6:>13.0f}"
          f"{gz_bytes / execution / 1e6:>11.0f}{'':>10}{'':>14}")  # fmt: skip
    print(f"{'local stack: whole command':26}{result.seconds:>9.1f}{ndjson_bytes / result.seconds / 1e6:>13.0f}"
          f"{gz_bytes / result.seconds / 1e6:>11.0f}{cpu / gb:>10.1f}{rss:>14.0f}")  # fmt: skip
    print(f"{'curl, same files':26}{curl_wall:>9.1f}{ndjson_bytes / curl_wall / 1e6:>13.0f}"
          f"{gz_bytes / curl_wall / 1e6:>11.0f}{curl_cpu / gb:>10.1f}{'':>14}")  # fmt: skip
    print(f"history events: {result.history_events}; the whole command includes synthesis, set-up and "
          f"mirroring {len(files)} objects to disk")  # fmt: skip


if __name__ == "__main__":
    main()
