"""A stack "deployed" in moto in eu-west-2 only (outputs, table, state machine, two empty secrets, the
Athena workgroup), and AWS configuration files with two profiles; the machine's own AWS settings are
cleared.

Shared by the tests of the deployed-stack commands (``tests/integration/test_deployed_cli_*.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ingest.adapters.dynamo_store import DynamoRunStore
from local.cli import main
from local.stack_access import STACK as STACK_ID

REGION = "eu-west-2"
ACCOUNT = "123456789012"
TABLE = "BulkFhirIngest-StorageState-1A2B3C"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:WorkflowStateMachine-abc"
DATABASE = "bulk_fhir_ingest"
WORKGROUP = "bulk-fhir-ingest"
CUTOFF_BYTES = 10 * 10**9
CREDENTIALS = {"client_id": "aco-client-7", "client_secret": "s3cr3t-v4lue-never-printed"}


@dataclass
class Deployed:
    secrets: dict[str, str]  # source -> secret ARN

    def secret_value(self, source: str) -> Any:
        client = boto3.client("secretsmanager", region_name=REGION)
        try:
            return json.loads(client.get_secret_value(SecretId=self.secrets[source])["SecretString"])
        except client.exceptions.ResourceNotFoundException:
            return None  # created empty, as the stack creates it


def _deploy() -> Deployed:
    table = boto3.resource("dynamodb", region_name=REGION).create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        BillingMode="PAY_PER_REQUEST",
    )
    DynamoRunStore(table).advance_watermark("bcda-prod", "Group/all", "2026-05-01T00:00:00Z", "run-0", "now")
    boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name="WorkflowStateMachine-abc",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
    )
    secrets_client = boto3.client("secretsmanager", region_name=REGION)
    secrets = {name: secrets_client.create_secret(Name=f"Secrets{name}-X1")["ARN"] for name in ("bcda-prod", "ehr")}
    sources = {"bcda-prod": {"api": "bcda", "secret_arn": secrets["bcda-prod"]},
               "ehr": {"api": "smart", "secret_arn": secrets["ehr"]}}  # fmt: skip
    boto3.client("athena", region_name=REGION).create_work_group(
        Name=WORKGROUP,
        Configuration={"EnforceWorkGroupConfiguration": True, "BytesScannedCutoffPerQuery": CUTOFF_BYTES},
    )
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "StateMachineArn": {"Value": MACHINE},
            "TableName": {"Value": TABLE},
            "Sources": {"Value": json.dumps(sources)},
            "GlueDatabase": {"Value": DATABASE},
            "AthenaWorkGroup": {"Value": WORKGROUP},
        },
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=STACK_ID, TemplateBody=json.dumps(template)
    )
    return Deployed(secrets)


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Deployed]:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text(f"[profile ops]\nregion = {REGION}\n\n[profile elsewhere]\nregion = us-east-1\n")
    credentials.write_text(
        "".join(f"[{p}]\naws_access_key_id = t\naws_secret_access_key = t\n" for p in ("ops", "elsewhere"))
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    with mock_aws():
        yield _deploy()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
