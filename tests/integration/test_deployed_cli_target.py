"""`bulk-ingest start | runs | watermarks`: which profile, region and stack they use, and say they used."""

from __future__ import annotations

import json

import boto3

from infra.stack import STACK_ID
from local import stack_access
from tests.support.deployed_stack import ACCOUNT, MACHINE, REGION, TABLE, Deployed, deployed, run

__all__ = ["deployed"]  # the fixture


def test_the_cli_and_the_app_agree_on_the_stack_name() -> None:
    assert stack_access.STACK == STACK_ID


def test_region_option_finds_the_stack_there_and_says_so(deployed: Deployed, capsys) -> None:
    code, out, err = run(capsys, "watermarks", "--region", REGION)
    assert code == 0, err
    assert "bcda-prod  Group/all  2026-05-01T00:00:00Z" in out
    assert err == f"bulk-ingest watermarks: stack BulkFhirIngest in {REGION}\n"


def test_the_profile_gives_the_region(deployed: Deployed, capsys) -> None:
    code, out, err = run(capsys, "runs", "--source", "bcda-prod", "--profile", "ops")
    assert code == 0, err
    assert out == "(none)\n"
    assert err == f"bulk-ingest runs: stack BulkFhirIngest in {REGION} (profile ops)\n"


def test_the_region_option_wins_over_the_profiles(deployed: Deployed, capsys) -> None:
    code, _out, err = run(capsys, "watermarks", "--profile", "elsewhere", "--region", REGION)
    assert code == 0, err
    assert err == f"bulk-ingest watermarks: stack BulkFhirIngest in {REGION} (profile elsewhere)\n"


def test_a_state_machine_arn_gives_the_region(deployed: Deployed, capsys) -> None:
    code, out, err = run(capsys, "start", "--source", "bcda-prod", "--no-follow", "--state-machine-arn", MACHINE)
    assert code == 0, err
    assert out.startswith(f"started arn:aws:states:{REGION}:{ACCOUNT}:execution:WorkflowStateMachine-abc:manual-")
    assert err == f"bulk-ingest start: stack BulkFhirIngest in {REGION}\n"  # the table came from its outputs
    code, _out, err = run(capsys, "runs", "--source", "bcda-prod", "--state-machine-arn", MACHINE, "--table", TABLE)
    assert code == 0, err
    assert err == f"bulk-ingest runs: state machine {MACHINE} and table {TABLE} in {REGION}\n"


def test_a_region_that_contradicts_the_arn_is_refused(deployed: Deployed, capsys) -> None:
    code, out, err = run(capsys, "start", "--source", "x", "--state-machine-arn", MACHINE, "--region", "us-east-1")
    assert (code, out) == (2, "")
    assert err == f"bulk-ingest start: --region us-east-1 does not match the state machine ARN's region {REGION}\n"


def test_without_any_region_the_cli_says_how_to_give_one(deployed: Deployed, capsys) -> None:
    code, _out, err = run(capsys, "watermarks")
    assert code == 2
    assert err == (
        "bulk-ingest watermarks: no AWS region: pass --region, set AWS_REGION, or give your AWS profile a region\n"
    )


def test_stack_not_found_names_the_region_it_looked_in(deployed: Deployed, capsys, monkeypatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    code, _out, err = run(capsys, "watermarks")
    assert code == 2
    assert err.startswith("bulk-ingest watermarks: stack BulkFhirIngest not found in us-east-1 (")
    assert "pass --region, --profile or --stack" in err


def test_an_unknown_profile_is_one_line(deployed: Deployed, capsys) -> None:
    code, _out, err = run(capsys, "runs", "--source", "x", "--profile", "nope")
    assert (code, err) == (2, "bulk-ingest runs: AWS profile 'nope' not found in your AWS config\n")


def test_a_claims_rebuild_is_started_with_only_the_source(deployed: Deployed, capsys) -> None:
    argv = ("start", "--source", "bcda-prod", "--rebuild-claims", "--no-follow")
    code, out, err = run(capsys, *argv, "--region", REGION)
    assert code == 0, err
    arn = out.removeprefix("started ").strip()
    described = boto3.client("stepfunctions", region_name=REGION).describe_execution(executionArn=arn)
    assert json.loads(described["input"]) == {"source": "bcda-prod", "rebuild_claims": True}


def test_a_claims_rebuild_with_export_parameters_is_refused_before_anything_starts(deployed: Deployed, capsys) -> None:
    argv = ("start", "--source", "bcda-prod", "--rebuild-claims", "--since", "none", "--types", "Patient")
    code, out, err = run(capsys, *argv, "--region", REGION)
    assert (code, out) == (2, "")
    assert err.endswith("--rebuild-claims re-derives what already landed: it takes no --types, --since\n")
    executions = boto3.client("stepfunctions", region_name=REGION).list_executions(stateMachineArn=MACHINE)
    assert executions["executions"] == []
