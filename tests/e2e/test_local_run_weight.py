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

    # Another emulator (another port), another population, and run options that are execution input
    # (the download concurrency, the types): the same template.
    second, second_err = _local_run(tmp_path, "--patients", "30", "--concurrency", "3", "--types", "Patient,Coverage")
    assert second == {"exit": 0, "loaded": []}
    assert "template from cache in" in second_err and "synthesized the CDK app" not in second_err
    assert "SUCCEEDED" in second_err

    # A configuration value that is in the template (another flavour is another source): synthesized again.
    third, third_err = _local_run(tmp_path, "--patients", "20", "--flavor", "ab2d")
    assert third["exit"] == 0 and "synthesized the CDK app in" in third_err
    assert len(list((tmp_path / "cache" / "bulk-fhir-ingest" / "templates").glob("*.json"))) == 2
    assert not list((tmp_path / "out").rglob("*template*"))


def test_moto_pages_the_execution_history_as_aws_does(stack):
    s = stack("bcda", patients=10)
    execution = s.run()
    assert execution.status == "SUCCEEDED"
    ids = [event["id"] for event in execution.history]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) > 30

    def pages(**kwargs: object) -> list[list[int]]:
        found, token = [], None
        while True:
            page = s.aws.stepfunctions.get_execution_history(
                executionArn=execution.arn, maxResults=7, **kwargs, **({"nextToken": token} if token else {})
            )
            found.append([event["id"] for event in page["events"]])
            if not (token := page.get("nextToken")):
                return found

    forward, backward = pages(), pages(reverseOrder=True)
    assert [i for page in forward for i in page] == ids and {len(p) for p in forward[:-1]} == {7}
    assert [i for page in backward for i in page] == ids[::-1] and {len(p) for p in backward[:-1]} == {7}


def test_a_run_sitting_in_a_wait_state_wakes_no_one(stack):
    s = stack("bcda", patients=10)
    s.aws.clockwork.hold()  # Wait states now last until released
    arn = s.start()
    assert s.aws.clockwork.holding.wait(120), "the execution never reached a Wait state"
    s.aws.activity.wait(0)  # what happened on the way there
    assert not s.aws.activity.wait(0)  # nothing since: a follower sleeps
    s.aws.clockwork.release()
    assert s.aws.activity.wait(120)  # the execution moves on: the follower wakes
    assert s.wait(arn).status == "SUCCEEDED"
