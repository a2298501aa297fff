"""`bulk-ingest start | runs | watermarks` against a stack "deployed" in moto."""

from __future__ import annotations

import argparse
import io
import json

import boto3
import pytest

from local import deployed
from local.cli import build_parser


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_start_follows_the_run_and_runs_and_watermarks_list_it(stack):
    s = stack("bcda", patients=40)
    refs = deployed.StackRefs(s.aws.state_machine_arn, s.aws.table.name)
    out = io.StringIO()
    args = parse("start", "--source", "e2e", "--poll-seconds", "0.05")
    assert deployed.start(args, s.aws.stepfunctions, s.aws.table, refs, out) == 0
    text = out.getvalue()
    assert "Kick off export" in text and "Download files:" in text
    assert "SUCCEEDED: run " in text and "files" in text

    runs = deployed.runs(s.aws.table, "e2e", 10)
    assert [r["status"] for r in runs] == ["SUCCEEDED"]
    marks = deployed.watermarks(s.aws.table)
    assert [(m["source"], m["scope"]) for m in marks] == [("e2e", "Group/all")]
    assert marks[0]["watermark"].startswith("2026-")

    # a failed run prints its error and exits 1
    s.emu.config.scenario = "job-failed"
    failed = io.StringIO()
    assert deployed.start(parse("start", "--source", "e2e", "--since", "none", "--poll-seconds", "0.05"),
                          s.aws.stepfunctions, s.aws.table, refs, failed) == 1  # fmt: skip
    assert "FAILED: ExportFailedError:" in failed.getvalue()
    assert [r["status"] for r in deployed.runs(s.aws.table, "e2e", 10)] == ["FAILED", "SUCCEEDED"]


def test_the_stack_is_found_by_its_outputs(stack):
    s = stack("bcda", patients=20)
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "StateMachineArn": {"Value": s.aws.state_machine_arn},
            "TableName": {"Value": s.aws.table.name},
        },
    }
    cloudformation.create_stack(StackName="BulkFhirIngest", TemplateBody=json.dumps(template))
    refs = deployed.resolve(parse("watermarks"), cloudformation)
    assert refs == deployed.StackRefs(s.aws.state_machine_arn, s.aws.table.name)
    with pytest.raises(deployed.DeployedError, match="stack Other not found"):
        deployed.resolve(parse("watermarks", "--stack", "Other"), cloudformation)
