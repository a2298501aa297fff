"""The Athena workgroup users query the catalog through, and a managed policy that lets them.

The workgroup's settings are enforced: every query writes its results KMS-encrypted under
``athena-results/`` of the landing bucket and is cancelled past the bytes-scanned cutoff, whatever
the client asks. Athena reads the data and writes the results with the *caller's* permissions, so a
querying user needs the policy below (the stack creates no user or role: attach it to yours). The
key policy already delegates to IAM (the account root holds ``kms:*``), so the key needs no grant.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import IngestConfig
from infra.constructs.storage import ATHENA_RESULTS_PREFIX
from infra.nag import acknowledge_wildcard_resources

ENGINE_VERSION = "Athena engine version 3"
GIGABYTE = 10**9
#: What the Glue tables read: landed NDJSON, the servers' error files, the curated claims.
QUERYABLE_PREFIXES = ("fhir/", "errors/", "curated/")
QUERY_ACTIONS = ("athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
                 "athena:StopQueryExecution", "athena:GetWorkGroup", "athena:ListQueryExecutions",
                 "athena:BatchGetQueryExecution")  # fmt: skip
CATALOG_ACTIONS = ("glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables",
                   "glue:GetPartition", "glue:GetPartitions")  # fmt: skip


class QueryWorkgroup(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: IngestConfig,
        bucket: s3.IBucket,
        key: kms.IKey,
        database_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.workgroup = self._build_workgroup(config, bucket, key)
        self.policy = self._build_policy(bucket, key, database_name)

    def _build_workgroup(self, config: IngestConfig, bucket: s3.IBucket, key: kms.IKey) -> athena.CfnWorkGroup:
        cutoff = config.catalog.bytes_scanned_cutoff_gb
        return athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=config.catalog.workgroup,
            description=f"bulk-fhir-ingest claims and landed FHIR; at most {cutoff} GB scanned per query",
            state="ENABLED",
            # `cdk destroy` removes the workgroup with its saved queries and history (not the results)
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version=ENGINE_VERSION),
                bytes_scanned_cutoff_per_query=cutoff * GIGABYTE,
                publish_cloud_watch_metrics_enabled=True,
                requester_pays_enabled=False,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{bucket.bucket_name}/{ATHENA_RESULTS_PREFIX}",
                    expected_bucket_owner=Aws.ACCOUNT_ID,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )

    def _build_policy(self, bucket: s3.IBucket, key: kms.IKey, database_name: str) -> iam.ManagedPolicy:
        stack = Stack.of(self)

        def glue_arn(resource: str, name: str | None = None) -> str:
            return stack.format_arn(service="glue", resource=resource, resource_name=name)

        data = [bucket.arn_for_objects(f"{prefix}*") for prefix in QUERYABLE_PREFIXES]
        results = bucket.arn_for_objects(f"{ATHENA_RESULTS_PREFIX}*")
        statements = [
            iam.PolicyStatement(
                sid="RunQueriesInTheWorkgroup",
                actions=list(QUERY_ACTIONS),
                resources=[stack.format_arn(service="athena", resource="workgroup", resource_name=self.workgroup.name)],
            ),
            iam.PolicyStatement(
                sid="ReadTheCatalog",
                actions=list(CATALOG_ACTIONS),
                resources=[
                    stack.format_arn(service="glue", resource="catalog", arn_format=ArnFormat.NO_RESOURCE_NAME),
                    glue_arn("database", database_name),
                    glue_arn("table", f"{database_name}/*"),
                ],
            ),
            iam.PolicyStatement(sid="ReadTheData", actions=["s3:GetObject"], resources=data),
            iam.PolicyStatement(
                sid="ListTheData",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={
                    "StringLike": {"s3:prefix": [f"{p}*" for p in (*QUERYABLE_PREFIXES, ATHENA_RESULTS_PREFIX)]}
                },
            ),
            iam.PolicyStatement(
                sid="FindTheBucket",
                actions=["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                resources=[bucket.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="WriteAndReadResults",
                actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"],
                resources=[results],
            ),
            # Only through S3: the key also encrypts the secrets and the state table.
            iam.PolicyStatement(
                sid="UseTheKeyThroughS3",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
            ),
        ]
        policy = iam.ManagedPolicy(
            self,
            "QueryPolicy",
            description="bulk-fhir-ingest: query the claims catalog through its Athena workgroup; attach to "
            "the roles or groups of the people and tools that query",
            statements=statements,
        )
        acknowledge_wildcard_resources(
            policy,
            "Wildcards only in resources: the object prefixes the tables read (fhir/*, errors/*, curated/*) and "
            "the workgroup's result prefix (athena-results/*), and the tables of the stack's own Glue database.",
        )
        return policy
