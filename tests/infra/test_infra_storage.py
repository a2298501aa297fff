"""Storage: KMS key, landing and access-log buckets, state table, secrets."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match
from cdk_helpers import Synth, dumps


def landing_bucket(synth: Synth) -> dict[str, Any]:
    (bucket,) = [b for lid, b in synth.resources("AWS::S3::Bucket").items() if lid.startswith("StorageLanding")]
    return bucket["Properties"]


def test_one_customer_key_with_rotation_retained(default: Synth) -> None:
    default.template.resource_count_is("AWS::KMS::Key", 1)
    key = default.only("AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"


def test_key_policy_lets_only_this_accounts_log_groups_and_alarms_use_it(default: Synth) -> None:
    statements = {s.get("Sid"): s for s in default.only("AWS::KMS::Key")["Properties"]["KeyPolicy"]["Statement"]}
    logs = statements["AllowCloudWatchLogsOfThisAccount"]
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]
    assert not any("*" in action for action in logs["Action"])
    alarms = statements["AllowCloudWatchAlarmsToPublish"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(alarms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_landing_bucket_is_private_encrypted_versioned_and_logged(default: Synth) -> None:
    props = landing_bucket(default)
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["BucketKeyEnabled"] is True
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert "StorageKey" in dumps(encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"])
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "landing/"
    assert "StorageAccessLogs" in dumps(props["LoggingConfiguration"]["DestinationBucketName"])
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_both_buckets_deny_requests_without_tls_1_2(default: Synth) -> None:
    policies = default.resources("AWS::S3::BucketPolicy").values()
    assert len(policies) == 2
    for policy in policies:
        denies = [s["Condition"] for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert {"Bool": {"aws:SecureTransport": "false"}} in denies
        assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in denies


def test_landing_lifecycle_transitions_from_config_and_aborts_uploads(default: Synth, variant: Synth) -> None:
    rules = {rule["Id"]: rule for rule in landing_bucket(default)["LifecycleConfiguration"]["Rules"]}
    assert rules["AbortIncompleteUploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert "Prefix" not in rules["AbortIncompleteUploads"]
    both = [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": 90},
        {"StorageClass": "GLACIER", "TransitionInDays": 365},
    ]
    transitions = {rule["Prefix"]: rule["Transitions"] for rule in rules.values() if "Transitions" in rule}
    # landed data is archived as configured; curated Parquet never reaches Glacier, which Athena skips
    # without an error (a claims view would silently lose versions)
    assert transitions == {"fhir/": both, "errors/": both, "deleted/": both, "curated/": both[:1]}
    staging = rules["ExpireStaging"]
    assert staging["Prefix"] == "staging/"
    assert staging["ExpirationInDays"] == 7
    assert staging["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    curated = rules["ExpireOldVersionsOfCuratedFiles"]
    assert (curated["Prefix"], curated["NoncurrentVersionExpiration"]) == ("curated/", {"NoncurrentDays": 30})
    # lifecycle days set to null: no transitions at all
    variant_rules = landing_bucket(variant)["LifecycleConfiguration"]["Rules"]
    assert not [rule for rule in variant_rules if "Transitions" in rule]


def test_access_log_bucket_expires_logs_after_the_retention(default: Synth, variant: Synth) -> None:
    for synth, days in ((default, 365), (variant, 731)):
        (logs,) = [b for lid, b in synth.resources("AWS::S3::Bucket").items() if lid.startswith("StorageAccessLogs")]
        (rule,) = logs["Properties"]["LifecycleConfiguration"]["Rules"]
        assert rule["ExpirationInDays"] == days
        assert logs["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


def test_state_table(default: Synth) -> None:
    default.template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "Properties": {
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
                "TimeToLiveSpecification": {"AttributeName": "expires_at_epoch", "Enabled": True},
            },
        },
    )


def test_created_secret_is_empty_and_encrypted_with_the_key(default: Synth) -> None:
    secret = default.only("AWS::SecretsManager::Secret")
    props = secret["Properties"]
    # no value: nothing in the template, and no deploy ever overwrites the credentials put in by hand
    assert "SecretString" not in props and "GenerateSecretString" not in props
    assert '{"client_id": "...", "client_secret": "..."}' in props["Description"]
    assert "StorageKey" in dumps(props["KmsKeyId"])
    assert secret["DeletionPolicy"] == "Retain"


def test_created_secrets_are_named_by_cloudformation_so_a_redeploy_never_meets_a_retained_one(
    default: Synth, variant: Synth
) -> None:
    # A retained secret with a fixed name would fail the next deploy after `cdk destroy`
    # (ResourceExistsException); the generated name is new each time, and the ARN is an output.
    for synth in (default, variant):
        synth.template.all_resources_properties("AWS::SecretsManager::Secret", {"Name": Match.absent()})
        synth.template.all_resources("AWS::SecretsManager::Secret", {"DeletionPolicy": "Retain"})
    (secret_id,) = default.resources("AWS::SecretsManager::Secret")
    default.template.has_output("SecretArnBcdaSandbox", {"Value": {"Ref": secret_id}})


def test_imported_secret_is_not_created(variant: Synth) -> None:
    (secret_id,) = variant.resources("AWS::SecretsManager::Secret")
    assert secret_id.startswith("Secretsbcdasandbox")  # only the default source's secret is created
    outputs = variant.json["Outputs"]
    assert "cms/ab2d-prod" in dumps(outputs["SecretArnAb2dProd"]["Value"])
