"""The stack: composes the constructs and reports what a user needs as outputs."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra import outputs
from infra.bundling import lambda_code
from infra.catalog_schema import key_segment
from infra.config import IngestConfig
from infra.constructs.catalog import Catalog
from infra.constructs.functions import Functions
from infra.constructs.monitoring import Monitoring
from infra.constructs.network import Network
from infra.constructs.permissions import Resources
from infra.constructs.schedules import Schedules
from infra.constructs.secrets import Secrets
from infra.constructs.storage import Storage
from infra.constructs.view_catalog import ViewCatalog
from infra.constructs.workflow import Workflow
from infra.constructs.workgroup import QueryWorkgroup

STACK_ID = "BulkFhirIngest"


class IngestStack(Stack):
    def __init__(self, scope: Construct, construct_id: str = STACK_ID, *, config: IngestConfig) -> None:
        super().__init__(
            scope, construct_id, description="bulk-fhir-ingest: CMS bulk FHIR exports (BCDA, AB2D, SMART) into S3"
        )
        Tags.of(self).add("project", "bulk-fhir-ingest")
        self.config = config
        self.storage = Storage(self, "Storage", config=config)
        self.network = (
            Network(self, "Network", config=config.vpc, log_bucket=self.storage.log_bucket)
            if config.vpc.enabled
            else None
        )
        self.secrets = Secrets(self, "Secrets", config=config, key=self.storage.key)
        resources = Resources(
            bucket=self.storage.bucket,
            table=self.storage.table,
            key=self.storage.key,
            secrets=self.secrets.secrets,
            secrets_with_key=frozenset(self.secrets.created),
        )
        self.functions = Functions(
            self,
            "Functions",
            config=config,
            resources=resources,
            code=lambda_code(config.architecture),
            network=self.network,
        )
        self.workflow = Workflow(
            self,
            "Workflow",
            config=config,
            functions=self.functions.functions,
            bucket=self.storage.bucket,
            key=self.storage.key,
        )
        self.schedules = Schedules(
            self, "Schedules", config=config, state_machine=self.workflow.state_machine, key=self.storage.key
        )
        self.monitoring = Monitoring(
            self, "Monitoring", config=config, state_machine=self.workflow.state_machine, key=self.storage.key
        )
        self.catalog = Catalog(self, "Catalog", config=config, bucket=self.storage.bucket)
        self.view_catalog = ViewCatalog(
            self,
            "ViewCatalog",
            catalog=self.catalog,
            sources=",".join(key_segment(source.name) for source in config.sources),
            bucket_name=self.storage.bucket.bucket_name,
            views_folder=config.catalog.views_folder,
        )
        self.query = QueryWorkgroup(
            self,
            "Query",
            config=config,
            bucket=self.storage.bucket,
            key=self.storage.key,
            database_name=self.catalog.database_name,
        )
        self._build_outputs()
        self._build_query_outputs()

    def _build_outputs(self) -> None:
        CfnOutput(self, outputs.BUCKET_NAME, value=self.storage.bucket.bucket_name, description="Landing bucket")
        CfnOutput(
            self, outputs.TABLE_NAME, value=self.storage.table.table_name, description="Watermarks and run ledger"
        )
        CfnOutput(
            self,
            outputs.STATE_MACHINE_ARN,
            value=self.workflow.state_machine.state_machine_arn,
            description='Start a run with input {"source": "<name>"}',
        )
        CfnOutput(
            self, outputs.ALARM_TOPIC_ARN, value=self.monitoring.topic.topic_arn, description="Alarm notifications"
        )
        apis = {source.name: source.api for source in self.config.sources}
        for name, secret in self.secrets.secrets.items():
            CfnOutput(
                self,
                outputs.secret_arn_key(name),
                value=secret.secret_arn,
                description=f"Credentials of source {name} ({apis[name]}); fill them before its first scheduled "
                f"run: {outputs.set_secret_command(name)}",
            )
        CfnOutput(
            self,
            outputs.SOURCES,
            value=self.to_json_string(
                {
                    name: {"api": apis[name], "secret_arn": secret.secret_arn}
                    for name, secret in self.secrets.secrets.items()
                }
            ),
            description="Each source's API and secret (read by bulk-ingest secret set)",
        )
        CfnOutput(
            self, outputs.NEXT_STEP, value=outputs.next_step(self.config), description="Before the first scheduled run"
        )
        if self.network is not None:
            CfnOutput(
                self,
                outputs.EGRESS_IP,
                value=self.network.elastic_ip.attr_public_ip,
                description="Register this IP with the BCDA / AB2D allow-lists",
            )

    def _build_query_outputs(self) -> None:
        CfnOutput(
            self,
            outputs.GLUE_DATABASE,
            value=self.catalog.database.ref,
            description="Query it in Athena (bulk-ingest claims --stack)",
        )
        CfnOutput(
            self,
            outputs.ATHENA_WORKGROUP,
            value=self.query.workgroup.ref,
            description="Query through this workgroup: results KMS-encrypted in the bucket, bytes scanned limited",
        )
        CfnOutput(
            self,
            outputs.QUERY_POLICY_ARN,
            value=self.query.policy.managed_policy_arn,
            description="Attach to the roles or groups that query the claims in Athena",
        )
