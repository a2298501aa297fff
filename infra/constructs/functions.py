"""The seven Lambdas of the state machine (docs/architecture.md §5): one code asset, one environment.

Each function has its own role with one customer-managed policy that grants exactly what its step
needs (see :mod:`infra.constructs.permissions`); the role is handed to the function without policy
updates, so nothing CDK adds implicitly widens it.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Size
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import contract
from infra.config import IngestConfig
from infra.constructs.log_groups import encrypted_log_group
from infra.constructs.network import Network
from infra.constructs.permissions import Need, Resources, TableItems, statements_for
from infra.constructs.user_views import VIEW_READERS, user_views_layer
from infra.nag import acknowledge, acknowledge_wildcard_resources
from infra.view_catalog_schema import USER_VIEWS_MOUNT


@dataclass(frozen=True)
class FunctionSpec:
    memory_mb: int
    timeout: Duration
    needs: tuple[Need, ...]
    description: str
    #: the state items its step reads and writes (no others: the download function, which talks to
    #: arbitrary file hosts, cannot touch watermarks, leases or the ledger)
    table: TableItems | None = None
    #: /tmp, MB (512 unless a step needs room: the resolution's inputs, spill and snapshot)
    ephemeral_mb: int = 512


# Timeouts nest: every step that talks to the server has room for its requests to run to their HTTP
# bounds (bulkfhir.request_seconds_at_most: 95 s each with the client's timeouts), so a slow server
# raises a TransientError, which is retried, before Lambda ends the step (a Lambda timeout is retried
# once on Authenticate and Check export status only, and then the failure path cancels the server's
# job: workflow_retry.retry_timed_out). tests/infra/test_infra_timeouts_nest.py pins the arithmetic.
SPECS: dict[str, FunctionSpec] = {
    "start_run": FunctionSpec(
        256,
        Duration.seconds(30),
        (),
        "Start run: lease, watermark, run input",
        TableItems(reads=("watermark", "lease", "open_job", "ledger"), writes=("lease", "ledger")),
    ),
    # SMART discovery and the token request
    "authenticate": FunctionSpec(256, Duration.minutes(4), (Need.SECRETS,), "Authenticate: prove the credentials"),
    # a minute of looking at jobs the server named, then the kick-off (a token, the request, both again
    # on a refused token) and BCDA's job history
    "kick_off": FunctionSpec(
        256,
        Duration.minutes(12),
        # an abandoned resume's landed files are discarded before the export starts over
        (Need.SECRETS, Need.DISCARD),
        "Kick off export: $export, record the job",
        # a resume reads the earlier run's file count (ledger) and its files' download counts (run_files)
        TableItems(
            reads=("server_job", "open_job", "run_files", "ledger"), writes=("open_job", "server_job", "ledger")
        ),
    ),
    # a token and the poll, both again on a refused token; then the manifest into files.json. Memory:
    # the largest manifest the client accepts (64 MiB: 550,000 BCDA-sized entries) peaks at about
    # 650 MiB (benchmarks/bench_check_status_memory.py); 50,000 files take 133-175 MiB.
    "check_status": FunctionSpec(
        1024,
        Duration.minutes(8),
        (Need.SECRETS, Need.RUN_FILES_READ_WRITE, Need.SIGNED_URLS_WRITE, Need.TELL_MISSING),
        "Check export status: poll, write the manifest and file list",
        TableItems(writes=("ledger",)),
    ),
    # BCDA's file server cuts a download at 15 minutes; longer files continue in the next invocation.
    "download_file": FunctionSpec(
        1024,
        Duration.minutes(15),
        (Need.SECRETS, Need.LANDING, Need.SIGNED_URLS_READ, Need.TELL_MISSING),
        "Download file: stream one file into S3 and verify it",
        TableItems(reads=("run_files",), writes=("run_files",)),
    ),
    # Curation is CPU-bound (JSON parsing): 1,769 MB is one full vCPU. A file needs one invocation
    # (~50 MB/s of NDJSON per vCPU: a 15-minute invocation covers 45 GB).
    "curate_file": FunctionSpec(
        1769,
        Duration.minutes(15),
        (Need.CURATE, Need.TELL_MISSING),
        "Curate file: one landed file's claims into Parquet under curated/",
        TableItems(reads=("run_files",), writes=("run_files",)),
    ),
    "plan_rebuild": FunctionSpec(
        256,
        Duration.minutes(5),
        (Need.RUN_FILES_READ_WRITE, Need.PRUNE_CURATED),
        "List landed files: what a claims rebuild curates again; prune curated files of no landed file",
        TableItems(reads=("ledger", "run_files"), writes=("ledger",)),
    ),
    # DuckDB folds what the run curated into the source's snapshot (resolve.build): 3,008 MB (two
    # vCPUs, 2 GB for DuckDB) and 10 GB of /tmp for its inputs, spill and the new generation.
    "resolve_claims": FunctionSpec(
        3008,
        Duration.minutes(15),
        # a source's first resolve reads a generation.json that does not exist yet: a 404, not a 403
        (Need.RESOLVE, Need.TELL_MISSING),
        "Resolve claims: fold the run's curated claims into the source's snapshot and switch it",
        ephemeral_mb=10240,
    ),
    "finalize": FunctionSpec(
        256,
        Duration.minutes(5),
        (Need.RUN_FILES_READ_WRITE, Need.EVENT_LANDED),
        "Finalize run: manifest, ExportLanded, watermark",
        TableItems(reads=("run_files", "watermark"), writes=("watermark", "ledger", "open_job", "lease")),
    ),
    # the cancel of a job that may still run: a token and the DELETE, both again on a refused token
    "record_failure": FunctionSpec(
        256,
        Duration.minutes(8),
        (Need.SECRETS, Need.EVENT_FAILED),
        "Record the failure: ledger, cancel the job, release the lease, ExportFailed",
        TableItems(reads=("run_files",), writes=("ledger", "open_job", "lease")),
    ),
}

_ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
_XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
_ENI_ACTIONS = ("ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
                "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses")  # fmt: skip


class Functions(Construct):
    """``functions[handler name]`` is the function running ``ingest.handlers.<name>.handler``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: IngestConfig,
        resources: Resources,
        code: lambda_.Code,
        network: Network | None,
    ) -> None:
        super().__init__(scope, construct_id)
        views_layer = user_views_layer(self, config)
        self.environment = contract.lambda_environment(
            config,
            table_name=resources.table.table_name,
            bucket_name=resources.bucket.bucket_name,
            secret_arns={name: secret.secret_arn for name, secret in resources.secrets.items()},
            user_views_dir=USER_VIEWS_MOUNT if views_layer else None,
        )
        self.functions: dict[str, lambda_.Function] = {
            name: self._build_function(name, spec, config, resources, code, network) for name, spec in SPECS.items()
        }
        if views_layer is not None:  # the steps that read the user's views
            for name in VIEW_READERS:
                self.functions[name].add_layers(views_layer)

    def _build_function(
        self,
        name: str,
        spec: FunctionSpec,
        config: IngestConfig,
        resources: Resources,
        code: lambda_.Code,
        network: Network | None,
    ) -> lambda_.Function:
        construct_id = "".join(part.title() for part in name.split("_"))
        log_group = encrypted_log_group(
            self, f"{construct_id}Logs", key=resources.key, retention_days=config.log_retention_days
        )
        role = self._build_role(construct_id, spec, resources, log_group, network)
        function = lambda_.Function(
            self,
            construct_id,
            description=f"bulk-fhir-ingest {spec.description}",
            code=code,
            handler=contract.handler_path(name),
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=_ARCHITECTURES[config.architecture],
            memory_size=spec.memory_mb,
            ephemeral_storage_size=Size.mebibytes(spec.ephemeral_mb),
            timeout=spec.timeout,
            environment=self.environment,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            role=role.without_policy_updates(),
            vpc=network.vpc if network else None,
            vpc_subnets=network.function_subnets if network else None,
            security_groups=[network.function_security_group] if network else None,
        )
        self._acknowledge(function, network)
        return function

    def _build_role(
        self,
        construct_id: str,
        spec: FunctionSpec,
        resources: Resources,
        log_group: logs.ILogGroup,
        network: Network | None,
    ) -> iam.Role:
        statements = [
            *statements_for(spec.needs, resources, spec.table),
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            ),
            iam.PolicyStatement(sid="Tracing", actions=list(_XRAY_ACTIONS), resources=["*"]),
        ]
        if network is not None:
            statements.append(
                iam.PolicyStatement(sid="VpcNetworkInterfaces", actions=list(_ENI_ACTIONS), resources=["*"])
            )
        policy = iam.ManagedPolicy(
            self, f"{construct_id}Policy", description=f"bulk-fhir-ingest {spec.description}", statements=statements
        )
        acknowledge_wildcard_resources(
            policy,
            "Wildcards only in resources: object prefixes of the landing bucket (fhir/*, errors/*, deleted/*, "
            "runs/*, signed-urls/*, staging/*, curated/*), the random suffix of imported secrets, and '*' for X-Ray "
            "trace segments and VPC network interfaces, whose actions support no resource-level scoping.",
        )
        return iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"bulk-fhir-ingest {spec.description}",
            managed_policies=[policy],
        )

    @staticmethod
    def _acknowledge(function: lambda_.Function, network: Network | None) -> None:
        acknowledge(
            function,
            "HIPAA.Security-LambdaDLQ",
            "Step Functions invokes every function synchronously and retries or catches its errors; "
            "a dead-letter queue applies only to asynchronous invocations.",
        )
        acknowledge(
            function,
            "HIPAA.Security-LambdaConcurrency",
            "Concurrency is bounded by the state machine (one run per source scope, Distributed Map "
            "MaxConcurrency per source); reserved concurrency would fail deploys in accounts with low limits.",
        )
        if network is None:
            acknowledge(
                function,
                "HIPAA.Security-LambdaInsideVPC",
                "VPC mode is off in this configuration (vpc.enabled=false): the functions reach the CMS APIs "
                "from Lambda's managed network; turn VPC mode on for a fixed egress IP.",
            )
