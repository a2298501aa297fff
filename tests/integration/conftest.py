"""Emulated AWS (moto, in-process) with the resources the stack defines, for adapter and handler tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ingest.adapters.dynamo_store import DynamoRunStore
from ingest.adapters.events import EventBridgePublisher
from ingest.adapters.s3_landing import S3Landing
from ingest.adapters.secrets import SecretsManagerCredentials

REGION = "us-east-1"
BUCKET = "landing-bucket"
TABLE = "ingest-table"


@dataclass
class Aws:
    s3: Any
    table: Any
    secrets: Any
    events: Any

    def store(self) -> DynamoRunStore:
        return DynamoRunStore(self.table)

    def landing(self, part_size: int = 5 * 1024 * 1024) -> S3Landing:
        return S3Landing(self.s3, BUCKET, part_size=part_size)

    def credentials(self) -> SecretsManagerCredentials:
        return SecretsManagerCredentials(self.secrets)

    def publisher(self) -> EventBridgePublisher:
        return EventBridgePublisher(self.events, "default")

    def put_secret(self, name: str, value: dict[str, Any] | str | None) -> str:
        if value is None:
            return self.secrets.create_secret(Name=name)["ARN"]
        text = value if isinstance(value, str) else json.dumps(value)
        return self.secrets.create_secret(Name=name, SecretString=text)["ARN"]

    def object_versions(self, key: str) -> list[dict[str, Any]]:
        return self.s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", [])

    def list_keys(self, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        table = dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield Aws(
            s3=s3,
            table=table,
            secrets=boto3.client("secretsmanager", region_name=REGION),
            events=boto3.client("events", region_name=REGION),
        )
