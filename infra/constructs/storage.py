"""Storage: the KMS key, the landing bucket (and its access-log bucket) and the state table."""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import IngestConfig
from infra.nag import acknowledge

#: Landed data: ``fhir/``, ``errors/``, ``deleted/``; run bookkeeping: ``runs/``; large files being
#: assembled and download checkpoints: ``staging/`` (docs/architecture.md §4).
DATA_PREFIXES = ("fhir/", "errors/", "deleted/")
ERRORS_PREFIX = "errors/"
RUNS_PREFIX = "runs/"
STAGING_PREFIX = "staging/"
#: the claims layer's Parquet files (lambdas/claims): curated/<source>/<table>/run_month=YYYY-MM/
CURATED_PREFIX = "curated/"
MAP_RESULTS_PREFIX = "runs/map-results/"
#: a run's pre-signed file URLs (credentials to the server's files), apart from runs/ (ingest.layout)
SIGNED_URLS_PREFIX = "signed-urls/"
#: they outlive the run only as long as a server keeps its files for a resume (AB2D: 72 hours)
SIGNED_URLS_DAYS = 3
#: Athena query results of the stack's workgroup (expire after ``catalog.results_expiry_days``).
ATHENA_RESULTS_PREFIX = "athena-results/"
TTL_ATTRIBUTE = "expires_at_epoch"
#: What both buckets share: private, owner-enforced, TLS 1.2+ only, versioned, kept on stack deletion.
_PRIVATE_VERSIONED_TLS_ONLY: dict[str, Any] = {
    "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
    "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    "enforce_ssl": True,
    "minimum_tls_version": 1.2,
    "versioned": True,
    "removal_policy": RemovalPolicy.RETAIN,
}
_LOGS_KEY_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
                     "kms:DescribeKey")  # fmt: skip


class Storage(Construct):
    """Everything that holds data; retained when the stack is deleted."""

    def __init__(self, scope: Construct, construct_id: str, *, config: IngestConfig) -> None:
        super().__init__(scope, construct_id)
        self.key = self._build_key()
        self.log_bucket = self._build_log_bucket(config)
        self.bucket = self._build_landing_bucket(config)
        self.table = self._build_table()

    def _build_key(self) -> kms.Key:
        key = kms.Key(
            self,
            "Key",
            description="bulk-fhir-ingest: landed claims, state table, secrets, logs, alarms and schedules",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        stack = Stack.of(self)
        # CloudWatch Logs encrypts this stack's log groups with the key (scoped by encryption context).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=list(_LOGS_KEY_ACTIONS),
                resources=["*"],  # in a key policy "*" is this key
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        return key

    def _build_log_bucket(self, config: IngestConfig) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access logging delivers only to buckets with SSE-S3 default encryption.
            encryption=s3.BucketEncryption.S3_MANAGED,
            **_PRIVATE_VERSIONED_TLS_ONLY,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireLogs",
                    expiration=Duration.days(config.log_retention_days),
                    noncurrent_version_expiration=Duration.days(30),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
        )
        acknowledge(bucket, "AwsSolutions-S1", "This is the access-log bucket; logging it into itself would loop.")
        acknowledge(
            bucket,
            "HIPAA.Security-S3BucketLoggingEnabled",
            "This is the access-log bucket itself; logging it into itself would loop.",
        )
        acknowledge(
            bucket,
            "HIPAA.Security-S3DefaultEncryptionKMS",
            "S3 server access logs can be delivered only to a bucket whose default encryption is SSE-S3.",
        )
        _acknowledge_replication(bucket)
        return bucket

    def _build_landing_bucket(self, config: IngestConfig) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "Landing",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            **_PRIVATE_VERSIONED_TLS_ONLY,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="landing/",
            lifecycle_rules=[*_transition_rules(config), *_housekeeping_rules(config)],
        )
        _acknowledge_replication(bucket)
        return bucket

    def _build_table(self) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            "State",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            table,
            "HIPAA.Security-DynamoDBInBackupPlan",
            "Point-in-time recovery (35 days) is on; the table holds watermarks and the run ledger, which the "
            "run manifests in S3 can rebuild. Add it to the organisation's AWS Backup plan if policy requires.",
        )
        return table


def _acknowledge_replication(bucket: s3.Bucket) -> None:
    acknowledge(
        bucket,
        "HIPAA.Security-S3BucketReplicationEnabled",
        "Cross-region replication needs a second-region bucket that the deploying organisation chooses; "
        "versioning and retention protect the data in this region.",
    )


def _transition_rules(config: IngestConfig) -> list[s3.LifecycleRule]:
    """Landed data moves to Standard-IA, then Glacier, as configured; curated Parquet only to
    Standard-IA: Athena silently skips objects in Glacier Flexible Retrieval (its docs: "Athena skips
    all of the table's S3 Glacier Flexible Retrieval and S3 Glacier Deep Archive objects"), so an
    archived curated file would drop claim versions from every view without an error."""
    ia, glacier = config.lifecycle.infrequent_access_days, config.lifecycle.glacier_days
    landed = [(s3.StorageClass.INFREQUENT_ACCESS, ia), (s3.StorageClass.GLACIER, glacier)]
    rules = []
    for rule_id, prefixes, steps in (
        ("TransitionLandedData", DATA_PREFIXES, landed),
        ("TransitionCuratedData", (CURATED_PREFIX,), landed[:1]),
    ):
        transitions = [
            s3.Transition(storage_class=storage_class, transition_after=Duration.days(days))
            for storage_class, days in steps
            if days is not None
        ]
        if transitions:
            rules += [
                s3.LifecycleRule(id=f"{rule_id}{prefix.strip('/').title()}", prefix=prefix, transitions=transitions)
                for prefix in prefixes
            ]
    return rules


def _housekeeping_rules(config: IngestConfig) -> list[s3.LifecycleRule]:
    return [
        s3.LifecycleRule(id="AbortIncompleteUploads", abort_incomplete_multipart_upload_after=Duration.days(7)),
        # Staging objects are copies of claims data; a finished file's is deleted at once, an
        # abandoned run's expires.
        s3.LifecycleRule(
            id="ExpireStaging",
            prefix=STAGING_PREFIX,
            expiration=Duration.days(7),
            noncurrent_version_expiration=Duration.days(1),
        ),
        # Query results are copies of claims data, kept only as long as someone may fetch them.
        s3.LifecycleRule(
            id="ExpireAthenaResults",
            prefix=ATHENA_RESULTS_PREFIX,
            expiration=Duration.days(config.catalog.results_expiry_days),
            noncurrent_version_expiration=Duration.days(1),
        ),
        # Pre-signed URLs are credentials to the server's files: gone once no resume can use them.
        s3.LifecycleRule(
            id="ExpireSignedUrls",
            prefix=SIGNED_URLS_PREFIX,
            expiration=Duration.days(SIGNED_URLS_DAYS),
            noncurrent_version_expiration=Duration.days(1),
        ),
        s3.LifecycleRule(
            id="ExpireOldVersionsOfRunFiles",
            prefix=RUNS_PREFIX,
            noncurrent_version_expiration=Duration.days(30),
            expired_object_delete_marker=True,
        ),
        # a retried curation or a claims rebuild overwrites curated files: their old versions are
        # derived data (the landed files stay), not kept past a month
        s3.LifecycleRule(
            id="ExpireOldVersionsOfCuratedFiles",
            prefix=CURATED_PREFIX,
            noncurrent_version_expiration=Duration.days(30),
            expired_object_delete_marker=True,
        ),
    ]
