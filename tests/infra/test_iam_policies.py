"""The IAM evaluator the permission tests rely on (tests/support/iam_policies.py) refuses what AWS
refuses: a key outside a role's prefixes, an item of another kind, a 404 without s3:ListBucket, a
bucket policy's Deny, a key policy that does not hand the key to the account."""

from __future__ import annotations

from typing import Any

import pytest

from local.runner.call_recorder import RecordedCall
from tests.support.iam_policies import StackIam, decide

BUCKET, KEY = "arn:aws:s3:::landing", "arn:aws:kms:us-east-1:123456789012:key/k"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/State"
ROOT = {"AWS": "arn:aws:iam::123456789012:root"}


def _template(statements: list[dict[str, Any]], key_policy: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    allow_all_to_account = [{"Effect": "Allow", "Principal": ROOT, "Action": "kms:*", "Resource": "*"}]
    return {
        "Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}}},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"ManagedPolicyArns": [{"Ref": "Policy"}]}},
            "Policy": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {"Statement": statements}}},
            "Key": {"Type": "AWS::KMS::Key",
                    "Properties": {"KeyPolicy": {"Statement": key_policy or allow_all_to_account}}},
            "Landing": {"Type": "AWS::S3::Bucket", "Properties": {"BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"KMSMasterKeyID": KEY}}]}}},
            "LandingPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {"PolicyDocument": {"Statement": [
                {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*", "Resource": [BUCKET, f"{BUCKET}/*"],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:DeleteObject",
                 "Resource": f"{BUCKET}/fhir/*"},
            ]}}},
            "State": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
        }
    }  # fmt: skip


def _resolve(node: Any) -> Any:
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        return {"Key": KEY, "State": TABLE}.get(node["Fn::GetAtt"][0], node)
    return node


READ_FHIR = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/fhir/*"}
DECRYPT_VIA_S3 = {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": KEY,
                  "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}  # fmt: skip


def _denied(statements: list[dict[str, Any]], call: RecordedCall, key_policy: Any = None) -> list[str]:
    return [str(r) for r in StackIam(_template(statements, key_policy), _resolve).denied("Fn", call)]


def _get(key: str, error: str | None = None, operation: str = "GetObject") -> RecordedCall:
    return RecordedCall("Fn", "s3", operation, {"Bucket": "landing", "Key": key}, error)


def test_an_object_outside_the_roles_prefixes_is_refused() -> None:
    assert _denied([READ_FHIR, DECRYPT_VIA_S3], _get("fhir/a/b.ndjson.gz")) == []
    assert _denied([READ_FHIR, DECRYPT_VIA_S3], _get("deleted/a/b.ndjson.gz")) != []


def test_reading_an_encrypted_object_needs_the_key_through_s3_and_the_key_policy() -> None:
    assert _denied([READ_FHIR], _get("fhir/x")) == [
        f"kms:Decrypt on {KEY} with {{'kms:ViaService': ['s3.us-east-1.amazonaws.com']}}"
    ]
    not_for_the_account = [{"Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"}, "Action": "kms:*",
                            "Resource": "*"}]  # fmt: skip
    assert _denied([READ_FHIR, DECRYPT_VIA_S3], _get("fhir/x"), not_for_the_account) != []


def test_a_missing_key_answers_404_only_to_a_role_that_may_list_the_bucket() -> None:
    missing = _get("fhir/x", error="404", operation="HeadObject")
    (refused,) = _denied([READ_FHIR], missing)
    assert refused.startswith(f"s3:ListBucket on {BUCKET} ")
    assert _denied([READ_FHIR, {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET}], missing) == []


def test_the_bucket_policys_deny_wins_over_the_roles_allow() -> None:
    delete = RecordedCall("Fn", "s3", "DeleteObject", {"Bucket": "landing", "Key": "fhir/x"}, None)
    assert _denied([{"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": f"{BUCKET}/*"}], delete) != []


def test_items_of_another_kind_are_refused_by_their_leading_keys() -> None:
    from boto3.dynamodb.conditions import Key

    ledger_only = [
        {"Effect": "Allow", "Action": ["dynamodb:Query", "dynamodb:PutItem"], "Resource": TABLE,
         "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["LEDGER#*"]}}},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"},
    ]  # fmt: skip
    query = {"TableName": "State", "KeyConditionExpression": Key("pk").eq("LEDGER#a") & Key("sk").begins_with("RUN#")}
    assert _denied(ledger_only, RecordedCall("Fn", "dynamodb", "Query", query, None)) == []
    put = {"TableName": "State", "Item": {"pk": "LEASE#a", "sk": "x"}}
    lease = RecordedCall("Fn", "dynamodb", "PutItem", put, None)
    assert _denied(ledger_only, lease) != []
    typed = {"TableName": "State", "KeyConditionExpression": "#p = :p", "ExpressionAttributeNames": {"#p": "pk"},
             "ExpressionAttributeValues": {":p": {"S": "WATERMARK#a"}}}  # fmt: skip
    assert _denied(ledger_only, RecordedCall("Fn", "dynamodb", "Query", typed, None)) != []


def test_what_the_evaluator_does_not_know_fails_loudly() -> None:
    with pytest.raises(NotImplementedError):
        decide([{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateLessThan": {"a": "b"}}}],
               _request())  # fmt: skip
    with pytest.raises(NotImplementedError):
        _denied([READ_FHIR], RecordedCall("Fn", "s3", "RestoreObject", {"Bucket": "landing", "Key": "k"}, None))


def _request() -> Any:
    from tests.support.iam_policies import Request

    return Request("s3:GetObject", f"{BUCKET}/fhir/x", {})
