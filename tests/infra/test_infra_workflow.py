"""The state machine definition (docs/architecture.md §2 and §3), read from the synthesized template."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cdk_helpers import Synth

import claims
from infra import contract, error_names
from infra.asl_extract import handler_logical_ids, resolve
from ingest.curation import should_curate

MAIN_TASKS = ("Start run", "Authenticate", "Kick off export", "Check export status", "Resolve claims", "Finalize run")
LAMBDA_THROTTLED = "Lambda.TooManyRequestsException"
LAMBDA_TIMED_OUT = ("Sandbox.Timedout", "Lambda.Unknown")
#: steps that may run again as they are (they ask the server and overwrite what they wrote)
RERUNNABLE = ("Authenticate", "Check export status")
LAMBDA_SERVICE_ERRORS = {
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
}


@pytest.fixture(scope="module")
def asl(default: Synth) -> dict[str, Any]:
    return default.definition()


@pytest.fixture(scope="module")
def states(asl: dict[str, Any]) -> dict[str, Any]:
    return asl["States"]


def all_states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition["States"].items():
        yield name, state
        if "ItemProcessor" in state:
            yield from all_states(state["ItemProcessor"])


def lambda_arn(synth: Synth, handler: str) -> str:
    return resolve({"Fn::GetAtt": [handler_logical_ids(synth.json)[handler], "Arn"]}, synth.json)


def test_the_happy_path_and_its_loops(asl: dict[str, Any], states: dict[str, Any]) -> None:
    assert asl["StartAt"] == "Start run"
    assert states["Start run"]["Next"] == "Rebuild claims?"
    assert states["Rebuild claims?"] == {
        "Type": "Choice",
        "Choices": [{"Variable": "$.run.mode", "StringEquals": "rebuild_claims", "Next": "List landed files"}],
        "Default": "Authenticate",
    }
    assert states["Authenticate"]["Next"] == "Authenticated?"
    # the token endpoint's Retry-After (BCDA's SSAS: 300 s) is waited out in a Wait state
    assert states["Authenticated?"] == {
        "Type": "Choice",
        "Choices": [{"Variable": "$.auth.status", "StringEquals": "wait", "Next": "Wait for the token endpoint"}],
        "Default": "Kick off export",
    }
    assert states["Wait for the token endpoint"] == {
        "Type": "Wait",
        "SecondsPath": "$.auth.wait_seconds",
        "Next": "Authenticate",
    }
    assert states["Kick off export"]["Next"] == "Export accepted?"
    accepted = states["Export accepted?"]
    assert accepted["Type"] == "Choice"
    assert accepted["Choices"] == [
        {"Variable": "$.job.status", "StringEquals": "accepted", "Next": "Check export status"},
        {"Variable": "$.job.status", "StringEquals": "restart", "Next": "Start over"},
    ]
    assert accepted["Default"] == "Wait before kicking off again"
    # a resumed job that cannot continue is abandoned: the run starts over from its validated input
    assert states["Start over"] == {"Type": "Pass", "InputPath": "$.run.input", "Next": "Start run"}
    assert states["Wait before kicking off again"] == {
        "Type": "Wait",
        "SecondsPath": "$.job.wait_seconds",
        "Next": "Kick off export",
    }
    assert states["Check export status"]["Next"] == "Export complete?"
    complete = states["Export complete?"]
    assert complete["Choices"] == [{"Variable": "$.poll.state", "StringEquals": "complete", "Next": "Download files"}]
    assert complete["Default"] == "Wait for the export"
    assert states["Wait for the export"] == {
        "Type": "Wait",
        "SecondsPath": "$.poll.wait_seconds",
        "Next": "Check export status",
    }
    assert states["Download files"]["Next"] == "Resolve claims"  # the run's claims snapshot (issue #15)
    assert states["Resolve claims"]["Next"] == "Finalize run"
    assert states["Finalize run"]["Next"] == "Export landed"
    assert states["Export landed"] == {"Type": "Succeed"}


def test_failure_path_fails_with_the_recorded_error_and_cause(states: dict[str, Any]) -> None:
    assert states["Record the failure"]["Next"] == "Export failed"
    assert "Catch" not in states["Record the failure"]
    assert states["Export failed"] == {"Type": "Fail", "ErrorPath": "$.failure.error", "CausePath": "$.failure.cause"}


def test_every_state_but_the_failure_path_is_reachable_only_as_drawn(states: dict[str, Any]) -> None:
    assert set(states) == {
        *MAIN_TASKS,
        "Authenticated?",
        "Wait for the token endpoint",
        "Start over",
        "Keep only the error",
        "Export accepted?",
        "Wait before kicking off again",
        "Export complete?",
        "Wait for the export",
        "Download files",
        "Export landed",
        "Record the failure",
        "Export failed",
        "Rebuild claims?",
        "List landed files",
        "Curate landed files",
    }


def test_every_lambda_task_returns_into_its_own_key(default: Synth, asl: dict[str, Any]) -> None:
    expected = {
        "Start run": ("start_run", "$"),
        "Authenticate": ("authenticate", "$.auth"),
        "Kick off export": ("kick_off", "$.job"),
        "Check export status": ("check_status", "$.poll"),
        "Resolve claims": ("resolve_claims", "$.resolved"),
        "Finalize run": ("finalize", "$.final"),
        "Record the failure": ("record_failure", "$.failure"),
        "Download file": ("download_file", "$.result"),
        "Curate file": ("curate_file", "$.curation"),
        "Curate landed file": ("curate_file", "$.curation"),
        "List landed files": ("plan_rebuild", "$.poll"),
    }
    tasks = {name: state for name, state in all_states(asl) if state["Type"] == "Task"}
    assert set(tasks) == set(expected)
    for name, (handler, result_path) in expected.items():
        task = tasks[name]
        # payload_response_only: the function ARN itself, the whole state as payload, no wrapper
        assert task["Resource"] == lambda_arn(default, handler)
        assert "OutputPath" not in task and "ResultSelector" not in task
        if name == "Start run":
            # the input plus the execution id (recorded with the lease and in the run ledger); its
            # result replaces the state, so no raw input key reaches a later step
            assert task["Parameters"] == {"input.$": "$", "execution.$": "$$.Execution.Id"}
        else:
            assert "Parameters" not in task
        assert task["ResultPath"] == result_path


def test_catch_everything_into_the_failure_path(states: dict[str, Any]) -> None:
    for name in (*MAIN_TASKS, "Download files", "List landed files", "Curate landed files"):
        target = "Keep only the error" if name == "Start run" else "Record the failure"
        assert states[name]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": target}]
    # a failed Start run leaves the raw input in the state: a crafted "run" or "job" must not reach
    # Record the failure (it would cancel that job, or release that run's lease)
    assert states["Keep only the error"] == {
        "Type": "Pass",
        "Parameters": {"error.$": "$.error"},
        "Next": "Record the failure",
    }


def test_retry_policy(asl: dict[str, Any]) -> None:
    for name, state in all_states(asl):
        if state["Type"] != "Task":
            continue
        # CDK's default retry of Lambda service errors comes first
        assert set(state["Retry"][0]["ErrorEquals"]) == LAMBDA_SERVICE_ERRORS
        retries = {tuple(r["ErrorEquals"]): r for r in state["Retry"][1:]}
        assert retries[("TransientError",)] == {
            "ErrorEquals": ["TransientError"],
            "IntervalSeconds": 5,
            "BackoffRate": 2,
            "MaxAttempts": 4,
        }
        if name == "Download file":
            assert retries[("VerificationError",)] == {
                "ErrorEquals": ["VerificationError"],
                "IntervalSeconds": 5,
                "BackoffRate": 2,
                "MaxAttempts": 2,
            }
        elif name in RERUNNABLE:
            assert set(retries) == {("TransientError",), (LAMBDA_THROTTLED,), LAMBDA_TIMED_OUT}
        else:
            assert set(retries) == {("TransientError",), (LAMBDA_THROTTLED,)}


def test_only_the_rerunnable_steps_try_again_when_lambda_ended_them(asl: dict[str, Any]) -> None:
    """Issue #14, item 9: a Lambda timeout of a poll or a token request must not send the run down the
    failure path, which cancels the server's job; a kick-off (a second job), a download (its own
    budget and checkpoints) or Finalize (the watermark) must not simply run again."""
    timed_out: dict[str, list[Any]] = {
        name: [r for r in state["Retry"] if tuple(r["ErrorEquals"]) == LAMBDA_TIMED_OUT]
        for name, state in all_states(asl)
        if state["Type"] == "Task"
    }
    assert {name for name, found in timed_out.items() if found} == set(RERUNNABLE)
    for name in RERUNNABLE:
        assert timed_out[name] == [
            {"ErrorEquals": list(LAMBDA_TIMED_OUT), "IntervalSeconds": 10, "BackoffRate": 2, "MaxAttempts": 1}
        ]
        # each error is matched by this retrier only (Step Functions takes the first that matches)
        names = [error for r in dict(all_states(asl))[name]["Retry"] for error in r["ErrorEquals"]]
        assert all(names.count(error) == 1 for error in LAMBDA_TIMED_OUT), name


def test_every_lambda_task_retries_throttling_with_jittered_backoff(asl: dict[str, Any]) -> None:
    """A new account's concurrency quota (or a map wider than it) throttles invocations; the function
    did not run, so the task waits and tries again instead of failing the run."""
    throttled = {
        name: next((r for r in state["Retry"] if r["ErrorEquals"] == [LAMBDA_THROTTLED]), None)
        for name, state in all_states(asl)
        if state["Type"] == "Task"
    }
    assert set(throttled) == {
        *MAIN_TASKS, "Record the failure", "Download file", "Curate file", "Curate landed file", "List landed files"
    }  # fmt: skip
    for name, retrier in throttled.items():
        assert retrier == {
            "ErrorEquals": [LAMBDA_THROTTLED],
            "IntervalSeconds": 2,
            "BackoffRate": 2,
            "MaxAttempts": 12,
            "MaxDelaySeconds": 300,
            "JitterStrategy": "FULL",
        }, name


def test_error_names_in_the_definition_are_the_error_classes(asl: dict[str, Any]) -> None:
    used = {
        error
        for _name, state in all_states(asl)
        for rule in (*state.get("Retry", []), *state.get("Catch", []))
        for error in rule["ErrorEquals"]
    }
    application = used - LAMBDA_SERVICE_ERRORS - {LAMBDA_THROTTLED, *LAMBDA_TIMED_OUT, error_names.ALL}
    assert error_names.LAMBDA_TIMED_OUT == LAMBDA_TIMED_OUT
    assert application == {"TransientError", "VerificationError"}
    assert application <= set(error_names.BULKFHIR_ERRORS) | set(error_names.INGEST_ERRORS)


def test_download_files_is_a_distributed_map_reading_the_file_list_from_s3(
    default: Synth, states: dict[str, Any]
) -> None:
    bucket = resolve(
        {"Ref": next(lid for lid in default.json["Resources"] if lid.startswith("StorageLanding"))}, default.json
    )
    files = states["Download files"]
    assert files["Type"] == "Map"
    assert files["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert files["ItemReader"] == {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": bucket, "Key.$": "$.poll.files_key"},
    }
    assert files["ItemSelector"] == {
        "file.$": "$$.Map.Item.Value",
        "run.$": "$.run",
        "job_url.$": "$.job.job_url",
        "transaction_time.$": "$.poll.transaction_time",
    }
    assert files["MaxConcurrencyPath"] == "$.run.download_concurrency"
    assert "MaxConcurrency" not in files
    assert files["ResultWriter"] == {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": bucket, "Prefix": "runs/map-results/"},
    }
    assert files["ResultPath"] is None
    assert not any(key.startswith("ToleratedFailure") for key in files)


def test_each_file_is_downloaded_until_it_has_landed(states: dict[str, Any]) -> None:
    child = states["Download files"]["ItemProcessor"]
    assert child["StartAt"] == "Download file"
    assert child["States"]["Download file"]["Next"] == "File landed?"
    assert child["States"]["File landed?"] == {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.result.status", "StringEquals": "partial", "Next": "Download file"},
            {"Variable": "$.result.status", "StringEquals": "wait", "Next": "Wait before downloading again"},
        ],
        "Default": "Claims to curate?",
    }
    # a landed EOB / Patient / Claim / ClaimResponse file, or a deleted file, has its claims curated in a
    # step of its own: exactly the files the claims layer says it reads
    curate = child["States"]["Claims to curate?"]
    (rule,) = curate["Choices"]
    assert rule["Next"] == "Curate file" and curate["Default"] == "File done"
    kinds, types = ("output", "error", "deleted"), (*contract.CURATED_TYPES, "Bundle", "OperationOutcome", "Coverage")
    for kind, resource_type in itertools.product(kinds, types):
        chosen = _matches(rule, {"file": {"kind": kind, "type": resource_type}})
        # the claims layer's files, and those the SQL on FHIR views read (Coverage)
        assert chosen is should_curate(kind, resource_type, None), (kind, resource_type)
    assert set(contract.CURATED_TYPES) == claims.CURATED_TYPES and contract.DELETION_TYPE == claims.DELETION_TYPE
    assert child["States"]["Curate file"]["Next"] == "File done"
    # the server's Retry-After on a file (or its token endpoint's) is waited out, not retried at once
    assert child["States"]["Wait before downloading again"] == {
        "Type": "Wait",
        "SecondsPath": "$.result.wait_seconds",
        "Next": "Download file",
    }
    done = child["States"]["File done"]
    assert done["Type"] == "Pass" and done["End"] is True
    assert done["Parameters"] == {"index.$": "$.file.index", "status.$": "$.result.status"}


def test_a_claims_rebuild_curates_every_landed_file_again(states: dict[str, Any], default: Synth) -> None:
    assert states["List landed files"]["Next"] == "Curate landed files"
    rebuild = states["Curate landed files"]
    assert rebuild["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert rebuild["ItemReader"]["Parameters"]["Key.$"] == "$.poll.files_key"
    assert rebuild["ItemSelector"] == {"file.$": "$$.Map.Item.Value", "run.$": "$.run", "rebuild": True}
    assert rebuild["ItemProcessor"]["StartAt"] == "Curate landed file"
    assert rebuild["Next"] == "Resolve claims"


def test_jsonpath_only(asl: dict[str, Any]) -> None:
    text = json.dumps(asl)
    assert "QueryLanguage" not in text and '"Assign"' not in text and '"Arguments"' not in text


def test_timeout_from_config(asl: dict[str, Any], variant: Synth) -> None:
    assert asl["TimeoutSeconds"] == 36 * 3600
    assert variant.definition()["TimeoutSeconds"] == 48 * 3600


def test_state_machine_logs_without_execution_data_and_traces(default: Synth) -> None:
    props = default.only("AWS::StepFunctions::StateMachine")["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", False)
    (destination,) = logging["Destinations"]
    log_group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert "KmsKeyId" in default.json["Resources"][log_group_id]["Properties"]


def test_state_machine_logs_go_to_a_vended_logs_group_unique_to_the_stack(default: Synth) -> None:
    # Under /aws/vendedlogs/ the group does not grow the account's 5,120-character CloudWatch Logs
    # resource policy; the stack's UUID keeps the name free after `cdk destroy` retains the group.
    props = default.only("AWS::StepFunctions::StateMachine")["Properties"]
    (destination,) = props["LoggingConfiguration"]["Destinations"]
    log_group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    name = {
        "Fn::Join": [
            "",
            [
                "/aws/vendedlogs/states/BulkFhirIngest-",
                {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]},
            ],
        ]
    }
    default.template.has_resource(
        "AWS::Logs::LogGroup", {"Properties": {"LogGroupName": name}, "DeletionPolicy": "Retain"}
    )
    assert default.json["Resources"][log_group_id]["Properties"]["LogGroupName"] == name
    stack_id = "arn:aws:cloudformation:eu-west-1:123456789012:stack/BulkFhirIngest/5e1c0d2a-7f3b-11ef-9d4a-0a1b2c3d4e5f"
    assert (
        resolve(name, default.json, pseudo_parameters={"AWS::StackId": stack_id})
        == "/aws/vendedlogs/states/BulkFhirIngest-5e1c0d2a-7f3b-11ef-9d4a-0a1b2c3d4e5f"
    )


def _matches(rule: dict[str, Any], state: dict[str, Any]) -> bool:
    """A Choice rule (And / Or / Not / StringEquals on a $. path) evaluated as Step Functions would."""
    if "And" in rule:
        return all(_matches(r, state) for r in rule["And"])
    if "Or" in rule:
        return any(_matches(r, state) for r in rule["Or"])
    if "Not" in rule:
        return not _matches(rule["Not"], state)
    value: Any = state
    for part in rule["Variable"].removeprefix("$.").split("."):
        value = value[part]
    return bool(value == rule["StringEquals"])
