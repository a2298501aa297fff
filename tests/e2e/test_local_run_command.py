"""`bulk-ingest local-run`, the README's first command, as a user runs it."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import time

from local.cli import main
from local.runner import cli as local_run_cli
from local.runner import local_run


def _claims_line(stderr: str) -> str:
    return next(line.strip() for line in stderr.splitlines() if line.strip().startswith("claims: "))


def _run_seconds(stderr: str) -> float:
    line = next(line for line in stderr.splitlines() if line.startswith("SUCCEEDED: run "))
    return float(line.rsplit(" in ", 1)[1].removesuffix(" s"))


def test_the_default_run_lands_an_export_into_out_with_run_json(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert main(["local-run", "--out", str(out)]) == 0
    stderr = capsys.readouterr().err
    assert "SUCCEEDED: run " in stderr and "Export landed" in stderr and "watermark: none -> 2026-" in stderr

    record = json.loads((out / "run.json").read_text())
    assert set(record) == {
        "status", "error", "run_id", "source", "transaction_time", "watermark", "partial", "polls", "history_events",
        "files",
    }  # fmt: skip
    assert record["status"] == "SUCCEEDED" and record["error"] is None and record["partial"] is None
    assert record["watermark"]["before"] is None and record["watermark"]["after"]
    assert record["watermark"]["note"] == "moved"
    assert record["polls"] >= 1 and 0 < record["history_events"] < 200
    assert "status polls: " in stderr and f"execution history: {record['history_events']} events" in stderr
    assert {f["type"] for f in record["files"]} >= {"Patient", "Coverage", "ExplanationOfBenefit"}
    for entry in record["files"]:
        assert set(entry) >= {"type", "url", "key", "bytes", "lines", "sha256"}
        body = (out / entry["key"]).read_bytes()  # mirrored in the S3 layout, one object per server file
        assert hashlib.sha256(body).hexdigest() == entry["sha256"] and len(body) == entry["bytes"]
        assert gzip.decompress(body).count(b"\n") == entry["lines"]
    assert (out / "runs" / "local-bcda" / record["run_id"] / "manifest.json").exists()

    # A second run into the same --out: its claims line is this run's (./out also holds the first
    # run's claims, which it counted as 1,257 duplicates); its run time counts from the process's start
    # (here: 500 s ago) to after the claims summary (#16).
    started = time.monotonic() - 500
    monkeypatch.setattr(local_run_cli, "process_started", lambda: started, raising=False)
    summarised: list[float] = []

    def summary_line(root, source):
        line = summarise(root, source)
        summarised.append(time.monotonic())
        return line

    summarise = local_run.summary_line
    monkeypatch.setattr(local_run, "summary_line", summary_line)
    assert main(["local-run", "--out", str(out)]) == 0
    again = capsys.readouterr().err
    assert _claims_line(again) == _claims_line(stderr)
    assert "0 duplicates dropped" in _claims_line(again)
    # the line prints tenths of a second: allow its rounding
    assert _run_seconds(again) + 0.05 >= summarised[0] - started >= 500


def test_a_failed_export_exits_1_with_one_line_saying_what_failed_and_what_to_do(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["local-run", "--out", str(out), "--scenario", "job-failed"]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("bulk-ingest local-run: the export failed: ExportFailedError: ")
    assert "run again" in last and "Traceback" not in last
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "FAILED" and record["error"]["name"] == "ExportFailedError"
    assert record["watermark"] == {"before": None, "after": None, "note": "not moved: the run failed"}
    assert record["run_id"]  # read from the execution's history: a failed execution has no output


def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys):
    assert main(["local-run", "--out", str(tmp_path), "--api", "bcda"]) == 2
    said = capsys.readouterr().err.strip()
    assert said == "bulk-ingest local-run: --api bcda needs --base-url (the server's address)"


def test_state_dir_makes_the_next_run_incremental(tmp_path, capsys):
    state, out = tmp_path / "state", tmp_path / "out"
    assert main(["local-run", "--out", str(out), "--state-dir", str(state), "--patients", "50"]) == 0
    first = json.loads((out / "run.json").read_text())
    assert main(["local-run", "--out", str(out), "--state-dir", str(state), "--patients", "50",
                 "--advance-days", "30"]) == 0  # fmt: skip
    second = json.loads((out / "run.json").read_text())
    assert second["watermark"]["before"] == first["watermark"]["after"]
    assert second["watermark"]["after"] > first["watermark"]["after"]
    records = [sum(f["lines"] for f in run["files"] if f["type"] == "ExplanationOfBenefit") for run in (first, second)]
    assert 0 < records[1] < records[0]
    # ./out also holds claims the state directory does not (another run's, or a state directory since
    # deleted): the run's claims line describes the state directory's, as `claims --state-dir` does (#16)
    curated = out / "curated" / "local-bcda"
    shutil.copytree(curated, tmp_path / "elsewhere")
    for parquet in (tmp_path / "elsewhere").rglob("*.parquet"):
        target = curated / parquet.relative_to(tmp_path / "elsewhere")
        parquet.rename(target.with_name("another-run-" + target.name))
    capsys.readouterr()
    assert main(["local-run", "--out", str(out), "--state-dir", str(state), "--patients", "50"]) == 0
    third = json.loads((out / "run.json").read_text())
    assert third["watermark"]["after"] == second["watermark"]["after"]
    assert sum(f["lines"] for f in third["files"] if f["kind"] == "output") == 0
    line = _claims_line(capsys.readouterr().err)
    assert main(["claims", "--state-dir", str(state)]) == 0
    assert line == _claims_line(capsys.readouterr().err.replace("bulk-ingest claims: ", ""))
    assert "0 duplicates dropped" in line
