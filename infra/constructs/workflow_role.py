"""The state machine's role, written out instead of left to CDK's implicit grants.

CDK would grant ``lambda:InvokeFunction`` on ``<function>:*``, the map's S3 access on the whole
bucket and no KMS access (so the Distributed Map could not read ``files.json`` from the KMS-encrypted
bucket), all in inline policies. Here: the unqualified functions, ``runs/*`` to read file lists,
``runs/map-results/*`` to write results, the key only through S3, in customer-managed policies.
The role is handed to the state machine without policy updates.

The Distributed Map's own permissions (start child executions of this state machine, describe,
stop and redrive them) are the ones CDK generates for a DISTRIBUTED map; they sit in a second policy
because they name the state machine, which itself depends on the role.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Aws, Fn
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.permissions import service_role
from infra.constructs.storage import MAP_RESULTS_PREFIX, RUNS_PREFIX
from infra.nag import acknowledge_wildcard_resources

#: What Step Functions needs to deliver its logs to CloudWatch Logs (no resource-level scoping).
LOG_DELIVERY_ACTIONS = ("logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                        "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                        "logs:DescribeResourcePolicies", "logs:DescribeLogGroups")  # fmt: skip
TRACING_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                   "xray:GetSamplingTargets")  # fmt: skip
RESULT_WRITER_ACTIONS = ("s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload")

_IAM5_REASON = (
    "Wildcards only in resources: runs/* and runs/map-results/* object prefixes, the executions of this "
    "state machine (Distributed Map children), and '*' for log delivery and X-Ray, whose actions support "
    "no resource-level scoping."
)


def build_state_machine_role(
    scope: Construct, *, functions: Iterable[lambda_.IFunction], bucket: s3.IBucket, key: kms.IKey
) -> iam.Role:
    policy = iam.ManagedPolicy(
        scope,
        "StateMachinePolicy",
        description="bulk-fhir-ingest state machine: invoke the steps, read file lists, write map results, log",
        statements=[
            iam.PolicyStatement(
                sid="InvokeSteps",
                actions=["lambda:InvokeFunction"],
                resources=[function.function_arn for function in functions],
            ),
            iam.PolicyStatement(
                sid="ReadFileLists", actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{RUNS_PREFIX}*")]
            ),
            iam.PolicyStatement(
                sid="WriteMapResults",
                actions=list(RESULT_WRITER_ACTIONS),
                resources=[bucket.arn_for_objects(f"{MAP_RESULTS_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="KeyForObjects",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
            ),
            iam.PolicyStatement(sid="DeliverLogs", actions=list(LOG_DELIVERY_ACTIONS), resources=["*"]),
            iam.PolicyStatement(sid="Tracing", actions=list(TRACING_ACTIONS), resources=["*"]),
        ],
    )
    acknowledge_wildcard_resources(policy, _IAM5_REASON)
    return service_role(
        scope,
        "StateMachineRole",
        service="states.amazonaws.com",
        description="bulk-fhir-ingest state machine",
        policy=policy,
    )


def _executions_arn(state_machine: sfn.StateMachine) -> str:
    """``arn:...:execution:<state machine name>``: append ``:*`` for its executions."""
    name = Fn.select(6, Fn.split(":", state_machine.state_machine_arn))
    return f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:execution:{name}"


def add_execution_read_policy(
    scope: Construct, construct_id: str, *, role: iam.IRole, state_machine: sfn.StateMachine
) -> None:
    """Let a step read executions of this state machine: Start run asks whether the execution holding
    a lease still runs (one stopped by hand or timed out never releases it); Finalize and Record the
    failure count their own execution's history events for the run ledger. A policy of its own,
    attached from here: it names the state machine, which itself depends on the function."""
    policy = iam.ManagedPolicy(
        scope,
        construct_id,
        description="bulk-fhir-ingest: describe executions of the state machine and read their history",
        roles=[role],
        statements=[
            iam.PolicyStatement(
                sid="ReadExecutions",
                actions=["states:DescribeExecution", "states:GetExecutionHistory"],
                resources=[f"{_executions_arn(state_machine)}:*"],
            )
        ],
    )
    acknowledge_wildcard_resources(policy, "Wildcard only in the resource: the executions of this state machine.")


def add_distributed_map_policy(scope: Construct, *, role: iam.Role, state_machine: sfn.StateMachine) -> None:
    """Let the Distributed Map run child executions of this state machine."""
    executions = _executions_arn(state_machine)
    policy = iam.ManagedPolicy(
        scope,
        "DistributedMapPolicy",
        description="bulk-fhir-ingest state machine: run the Download files map's child executions",
        roles=[role],
        statements=[
            iam.PolicyStatement(
                sid="StartChildExecutions",
                actions=["states:StartExecution"],
                resources=[state_machine.state_machine_arn],
            ),
            iam.PolicyStatement(
                sid="ManageChildExecutions",
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[f"{executions}:*"],
            ),
            iam.PolicyStatement(
                sid="RedriveChildExecutions", actions=["states:RedriveExecution"], resources=[f"{executions}/*:*"]
            ),
        ],
    )
    acknowledge_wildcard_resources(policy, _IAM5_REASON)
