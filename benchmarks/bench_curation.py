"""Benchmark: what claims curation adds to a run, on and off, through the whole local stack.

    .venv/bin/python benchmarks/bench_curation.py [--files 100] [--file-mb 10] [--concurrency 8]

The same export (the emulator's large-files scenario: EOB files of --file-mb MB of NDJSON each) runs
twice through the real state machine: with the "Curate file" step as built, and with that step
reduced to recording the file as curated (what Finalize checks) without reading it. The difference
is what curation costs: CPU seconds (this process: the handlers run in-process) and the execution's
wall time; the sum of the curate invocations' seconds is shown too. In AWS each file's curation runs
in its own Lambda in parallel with the other files' downloads: a run's wall time grows by about one
file's curation, not by the sum. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

from benchmarks.bench_local_run import start_emulator


def _record_only(deps: Any, event: dict[str, Any]) -> dict[str, Any]:
    """Curation off: the landed record is marked curated from its bytes, and nothing is read."""
    from ingest.payloads import RunContext

    run = RunContext.from_state(event)
    record = deps.store.get_landed_file(run.run_id, int(event["file"]["index"]))
    deps.store.mark_curated(run.run_id, record.index, record.sha256, {})
    return {"status": "curated", "index": record.index}


def _run(server: dict[str, str], concurrency: int, workdir: Path) -> tuple[Any, float]:
    from local.runner.local_run import LocalRunOptions, run_local

    options = LocalRunOptions(
        api="bcda", base_url=server["base_url"], client_id=server["client_id"],
        client_secret=server["client_secret"], out_dir=workdir, wait_scale=0.0, concurrency=concurrency,
        source_name="bench",
    )  # fmt: skip
    cpu = time.process_time()
    with open(os.devnull, "w") as quiet:
        result = run_local(options, out=quiet)
    return result, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100, help="number of EOB files (default 100)")
    parser.add_argument("--file-mb", type=float, default=10.0, help="NDJSON MB per file (default 10)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--patients", type=int, help="instead of large files: the normal population of this many (realistic EOBs)"
    )
    args = parser.parse_args()
    import ingest.handlers.curate_file as handler

    emulator, server = start_emulator(args.files, args.file_mb, patients=args.patients)
    figures = {}
    try:
        for label, service in (("curation on", handler.curate_file), ("curation off", _record_only)):
            handler.curate_file = service  # type: ignore[assignment]
            with tempfile.TemporaryDirectory() as tmp:
                result, cpu = _run(server, args.concurrency, Path(tmp))
                assert result.record["status"] == "SUCCEEDED", result.record["error"]
                ndjson = sum(
                    len(gzip.decompress((Path(tmp) / f["key"]).read_bytes()))
                    for f in result.record["files"]
                    if f["type"] == "ExplanationOfBenefit"
                )
            figures[label] = (result.execution_seconds, cpu, ndjson)
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)

    gb = figures["curation on"][2] / 1e9
    print(f"export: {args.files} EOB files, {gb:.2f} GB NDJSON, concurrency {args.concurrency}")
    print(f"{'':16}{'execution s':>13}{'process CPU s':>15}")
    for label, (execution, cpu, _) in figures.items():
        print(f"{label:16}{execution:>13.1f}{cpu:>15.1f}")
    extra_cpu = figures["curation on"][1] - figures["curation off"][1]
    extra_wall = figures["curation on"][0] - figures["curation off"][0]
    rate = gb * 1e3 / max(extra_cpu, 1e-9)
    print(f"curation adds {extra_cpu:.1f} CPU s ({extra_cpu / gb:.1f} CPU s per GB NDJSON, {rate:.0f} MB/s per core)"
          f" and {extra_wall:.1f} s to this run's execution")  # fmt: skip


if __name__ == "__main__":
    main()
