"""`bulk-ingest start | runs | watermarks | secret set` against a stack "deployed" in moto."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.asl_extract import resolve
from local import deployed
from local.cli import build_parser, main
from tests.e2e.conftest import SOURCE
from tests.support.emulated import secrets_of


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


def publish_outputs(s: Any) -> dict[str, str]:
    """Create the CloudFormation stack with the synthesized template's outputs, as `cdk deploy` would."""
    secretsmanager = s.aws.secrets
    arns = {entry["Name"]: entry["ARN"] for entry in secretsmanager.list_secrets()["SecretList"]}

    def created_secret(logical_id: str, attribute: str | None, resource: dict[str, Any]) -> str | None:
        return arns.get(logical_id) if resource["Type"] == "AWS::SecretsManager::Secret" else None

    outputs = {
        key: str(resolve(o["Value"], s.aws.template, created_secret)) for key, o in s.aws.template["Outputs"].items()
    }
    outputs.update(StateMachineArn=s.aws.state_machine_arn, TableName=s.aws.table.name)
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="BulkFhirIngest", TemplateBody=json.dumps(template)
    )
    return outputs


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.mark.parametrize("flavor", ["bcda", "smart"])
def test_secret_set_fills_the_secret_the_next_run_authenticates_with(stack, flavor, tmp_path, capsys, monkeypatch):
    s = stack(flavor, patients=20)
    outputs = publish_outputs(s)
    assert json.loads(outputs["Sources"])[SOURCE] == {"api": flavor, "secret_arn": s.aws.source_secret_arn(SOURCE)}
    s.aws.put_credentials(SOURCE, {"client_id": "someone-else", "client_secret": "not-these"})

    if flavor == "smart":  # the emulator's private JWK, piped in
        jwk = json.loads(Path(s.emu.private_key_path).read_text())
        monkeypatch.setattr("sys.stdin", _Pipe(json.dumps({"client_id": s.emu.client_id, "private_key_jwk": jwk})))
        argv = ["secret", "set", "--source", SOURCE]
    else:
        creds = tmp_path / "creds.json"
        creds.write_text(json.dumps({"client_id": s.emu.client_id, "client_secret": s.emu.client_secret}))
        argv = ["secret", "set", "--source", SOURCE, "--file", str(creds)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.startswith("bulk-ingest secret set: stack BulkFhirIngest in us-east-1\n")
    assert f"stored the {flavor} credentials of source {SOURCE} in {s.aws.source_secret_arn(SOURCE)}" in err

    execution = s.run()
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert s.leaked_secrets() == [] and not any(secret in err for secret in secrets_of(s.emu))
