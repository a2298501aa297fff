"""After a local run: mirror the landed objects, write run.json, print the summary."""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ingest.adapters.dynamo_store import DynamoRunStore
from local.runner.world import LocalAws

#: What --out receives: the landed data and the run records (never staging/ or map results), and
#: the source's curated claims of every run the bucket holds (the claims views need all of them).
MIRRORED_PREFIXES = ("fhir/", "errors/", "deleted/", "runs/")
CURATED_PREFIX = "curated/"


def mirror(
    aws: LocalAws,
    out_dir: Path,
    run_id: str | None,
    source: str | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> list[str]:
    """Copy this run's landed objects (and the source's curated claims) into ``out_dir`` in the S3
    layout; returns their keys (``on_bytes(n)`` as the bytes are written)."""
    copied: list[str] = []
    for key in aws.list_keys():
        curated = source is not None and key.startswith(f"{CURATED_PREFIX}{source}/")
        if not curated and (not key.startswith(MIRRORED_PREFIXES) or key.startswith("runs/map-results/")):
            continue
        if not curated and run_id and f"/{run_id}/" not in key:
            continue
        aws.download(key, out_dir / key, on_bytes)
        copied.append(key)
    return copied


def link_claims(out_dir: Path, keys: list[str], root: Path) -> None:
    """The mirrored curated files among ``keys`` under ``root`` (hard links; copies where links fail):
    a run's own claims, apart from what earlier runs left in ``out_dir``."""
    for key in keys:
        if not key.startswith(CURATED_PREFIX):
            continue
        target = root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(out_dir / key, target)
        except OSError:
            shutil.copyfile(out_dir / key, target)


def _started_run(history: list[dict[str, Any]]) -> dict[str, Any]:
    """$.run as the (last) Start run left it: a failed execution has no output to read it from."""
    for event in reversed(history):
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == "Start run":
            return dict(json.loads(details.get("output") or "{}").get("run") or {})
    return {}


def run_record(
    aws: LocalAws, description: dict[str, Any], source: str, history: list[dict[str, Any]]
) -> dict[str, Any]:
    """The run.json document (see the README)."""
    state = json.loads(description.get("output") or "{}")
    run = state.get("run") or _started_run(history)
    run_id = run.get("run_id")
    final = state.get("final") or {}
    store = DynamoRunStore(aws.table)
    manifest: dict[str, Any] = {}
    if final.get("manifest_key"):
        manifest = json.loads(aws.s3.get_object(Bucket=aws.bucket, Key=final["manifest_key"])["Body"].read())
    if manifest:
        files = manifest["files"]
    elif run_id:
        files = [landed.to_state() for landed in store.list_landed_files(run_id)]
    else:
        files = []
    ledger = (store.get_run(source, run_id) if run_id else None) or {}
    succeeded = description["status"] == "SUCCEEDED"
    return {
        "status": "SUCCEEDED" if succeeded else "FAILED",
        "error": None
        if succeeded
        else {"name": description.get("error") or description["status"], "cause": description.get("cause") or ""},
        "run_id": run_id,
        "source": source,
        "transaction_time": ledger.get("transaction_time"),
        "watermark": {
            "before": run.get("watermark_before"),
            "after": final.get("watermark_after") if succeeded else run.get("watermark_before"),
            # "moved", or why this run may not move it (a narrower run: since, until, type_filters)
            "note": final.get("watermark_note") if succeeded else "not moved: the run failed",
        },
        # why the export holds less than it was asked for (the server's error files report failed
        # outputs): what landed is kept and announced, the watermark stays, and the next run asks again
        "partial": final.get("partial") if succeeded else None,
        # status polls of the server's job, and the execution's history events (AWS stops at 25,000)
        "polls": int(ledger.get("polls") or (state.get("poll") or {}).get("polls") or 0),
        "history_events": len(history),
        "files": [
            {
                "type": f["type"],
                "kind": f["kind"],
                "url": f["url"],
                "key": f["key"],
                "bytes": f["bytes"],
                "lines": f["lines"],
                "sha256": f["sha256"],
                "downloads": f.get("downloads", 0),
            }
            for f in files
        ],
    }


def exit_code_of(record: dict[str, Any]) -> int:
    """0 for a run that landed everything it asked for; 1 for a failed run, or a partial one (the server
    reported failed outputs: the watermark stayed, and the next run asks again)."""
    return 0 if record["status"] == "SUCCEEDED" and not record.get("partial") else 1


def print_summary(
    record: dict[str, Any], seconds: float, out_dir: Path, out: IO[str], claims_line: str | None = None
) -> None:
    per_type: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for f in record["files"]:
        label = f["type"] if f["kind"] == "output" else f"{f['type']} ({f['kind']})"
        per_type[label][0] += 1
        per_type[label][1] += f["lines"]
        per_type[label][2] += f["bytes"]
    out.write(f"\n{record['status']}: run {record['run_id']} of source {record['source']} in {seconds:.1f} s\n")
    if per_type:
        out.write(f"  {'resource type':<34}{'files':>7}{'records':>10}{'bytes (gz)':>14}\n")
        for label in sorted(per_type):
            files, lines, size = per_type[label]
            out.write(f"  {label:<34}{files:>7}{lines:>10}{size:>14,}\n")
        total = [sum(v[i] for v in per_type.values()) for i in range(3)]
        out.write(f"  {'total':<34}{total[0]:>7}{total[1]:>10}{total[2]:>14,}\n")
    watermark = record["watermark"]
    out.write(f"  transactionTime: {record['transaction_time'] or '-'}\n")
    note = f" ({watermark['note']})" if watermark.get("note") not in (None, "moved") else ""
    out.write(f"  watermark: {watermark['before'] or 'none'} -> {watermark['after'] or 'none'}{note}\n")
    if record.get("partial"):
        out.write(f"  PARTIAL: {record['partial']}\n")
    out.write(f"  status polls: {record['polls']}; execution history: {record['history_events']} events\n")
    if claims_line:
        out.write(f"  {claims_line}\n")
    out.write(f"  landed objects and run.json in {out_dir}/\n")
