"""What a local run costs, pinned by behaviour (never by timing): the template comes from the cache
when nothing changed, and the CDK never loads into the run's process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Runs the command as `bulk-ingest` does, then reports what the process had imported.
PROBE = """
import json, sys
from local.cli import main
code = main(sys.argv[1:])
loaded = sorted({name.split(".")[0] for name in sys.modules} & {"aws_cdk", "jsii", "cdk_nag", "constructs"})
print(json.dumps({"exit": code, "loaded": loaded}))
"""


def _local_run(tmp_path: Path, *args: str) -> tuple[dict[str, object], str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": f"{ROOT}:{ROOT / 'lambdas'}"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "local-run", "--out", str(tmp_path / "out"), *args],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_the_second_run_takes_the_template_from_the_cache_and_no_run_loads_the_cdk(tmp_path):
    first, first_err = _local_run(tmp_path, "--patients", "20")
    assert first == {"exit": 0, "loaded": []}  # synthesized in a child process
    assert "synthesized the CDK app in" in first_err and "SUCCEEDED" in first_err
    assert len(list((tmp_path / "cache" / "bulk-fhir-ingest" / "templates").glob("*.json"))) == 1

    # Another emulator (another port) and another population: the same template.
    second, second_err = _local_run(tmp_path, "--patients", "30")
    assert second == {"exit": 0, "loaded": []}
    assert "template from cache in" in second_err and "synthesized the CDK app" not in second_err
    assert "SUCCEEDED" in second_err

    # A configuration value that is in the template: synthesized again.
    third, third_err = _local_run(tmp_path, "--patients", "20", "--concurrency", "3")
    assert third["exit"] == 0 and "synthesized the CDK app in" in third_err
    assert len(list((tmp_path / "cache" / "bulk-fhir-ingest" / "templates").glob("*.json"))) == 2
    assert not list((tmp_path / "out").rglob("*template*"))
