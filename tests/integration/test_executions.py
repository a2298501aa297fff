"""The Step Functions adapter Start run asks before refusing a lease (moto)."""

import json

import boto3

from ingest.adapters.executions import StepFunctionsExecutions

DEFINITION = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}


def test_status_of_a_running_and_a_stopped_execution_and_of_what_cannot_be_told(aws):
    client = boto3.client("stepfunctions", region_name="us-east-1")
    machine = client.create_state_machine(
        name="export", definition=json.dumps(DEFINITION), roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    running = client.start_execution(stateMachineArn=machine, name="running")["executionArn"]
    stopped = client.start_execution(stateMachineArn=machine, name="stopped")["executionArn"]
    client.stop_execution(executionArn=stopped)
    executions = StepFunctionsExecutions(client)

    assert executions.status(running) == "RUNNING"
    assert executions.status(stopped) == "ABORTED"
    # unknown means "treat the holder as alive": never take over a lease on a guess
    assert executions.status(running.replace(":running", ":gone")) is None
    assert executions.status("exec-1") is None
