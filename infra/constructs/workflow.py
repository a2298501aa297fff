"""The state machine (docs/architecture.md §3), chained from CDK constructs, JSONPath only.

Every Lambda task is ``payload_response_only`` with its own ``result_path``, and each step adds its
key (``$.run``, ``$.auth``, ``$.job``, ``$.poll``, ``$.final``). Start run is the exception: its
result *is* the state (``{"run": ...}``), so nothing of the raw execution input reaches a later step
(an input with a ``job`` or ``run`` key of its own must not steer them); the validated input is kept in
``$.run.input``. A failure anywhere is caught into ``$.error``, recorded, and fails the execution with
the original error name.

Wherever a server says how long to wait (Retry-After on a token 429, a throttled kick-off, a status
poll, a download), the step returns the wait and a Wait state honours it; the task retries (5-40 s)
are for failures that say nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra import error_names as errors
from infra.config import IngestConfig
from infra.constructs.download_map import build_download_map, build_rebuild_map
from infra.constructs.log_groups import encrypted_log_group, vended_log_group_name
from infra.constructs.workflow_retry import retry_timed_out, retry_transient
from infra.constructs.workflow_role import (
    add_distributed_map_policy,
    add_execution_read_policy,
    build_state_machine_role,
)
from infra.view_catalog_schema import load_view_catalog


class Workflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: IngestConfig,
        functions: Mapping[str, lambda_.IFunction],
        bucket: s3.IBucket,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self._views_folder = config.catalog.views_folder
        self.log_group = encrypted_log_group(
            self, "Logs", key=key, retention_days=config.log_retention_days, name=vended_log_group_name(self, "states")
        )
        self.role = build_state_machine_role(self, functions=functions.values(), bucket=bucket, key=key)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            comment="bulk-fhir-ingest: one bulk FHIR export of one source, from kick-off to landed files",
            definition_body=sfn.DefinitionBody.from_chainable(self._build_definition(functions, bucket)),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.hours(config.state_machine_timeout_hours),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            role=self.role.without_policy_updates(),
        )
        # CDK also builds an inline policy for the DISTRIBUTED map; with the role immutable it is never
        # attached nor rendered, so drop it from the tree too (cdk-nag inspects the tree).
        self.state_machine.node.try_remove_child("DistributedMapPolicy")
        add_distributed_map_policy(self, role=self.role, state_machine=self.state_machine)
        # Start run tells whether a lease holder still runs; Finalize and Record the failure count events.
        readers = (
            ("start_run", "LeaseCheckPolicy"),
            ("finalize", "FinalizeExecutionPolicy"),
            ("record_failure", "FailureExecutionPolicy"),
        )
        for name, policy_id in readers:
            role = functions[name].role
            assert role is not None  # every function gets its own role (constructs/functions.py)
            add_execution_read_policy(self, policy_id, role=role, state_machine=self.state_machine)

    def _build_definition(self, functions: Mapping[str, lambda_.IFunction], bucket: s3.IBucket) -> sfn.IChainable:
        # Start run also gets the execution's id, which the lease and the run ledger record. Its result
        # replaces the state: later steps see only what it validated.
        start = self._task(
            "Start run",
            functions["start_run"],
            "$",
            payload=sfn.TaskInput.from_object(
                {"input": sfn.JsonPath.object_at("$"), "execution": sfn.JsonPath.execution_id}
            ),
        )
        authenticate = self._task("Authenticate", functions["authenticate"], "$.auth")
        kick_off = self._task("Kick off export", functions["kick_off"], "$.job")
        check = self._task("Check export status", functions["check_status"], "$.poll")
        for step in (authenticate, check):
            retry_timed_out(step)
        download = build_download_map(
            self,
            function=functions["download_file"],
            curate=functions["curate_file"],
            bucket=bucket,
            view_types=tuple(load_view_catalog(self._views_folder)["resource_types"]),
        )
        # A claims rebuild ({"source": ..., "rebuild_claims": true}): every landed file curated again.
        plan = self._task("List landed files", functions["plan_rebuild"], "$.poll")
        rebuild = build_rebuild_map(self, curate=functions["curate_file"], bucket=bucket)
        # Every file curated (both paths): the source's claims snapshot, then Finalize.
        resolve = self._task("Resolve claims", functions["resolve_claims"], "$.resolved")
        finalize = self._task("Finalize run", functions["finalize"], "$.final")

        record = self._task("Record the failure", functions["record_failure"], "$.failure")
        record.next(sfn.Fail(self, "Export failed", error_path="$.failure.error", cause_path="$.failure.cause"))
        for state in (authenticate, kick_off, check, download, resolve, finalize, plan, rebuild):
            state.add_catch(record, errors=[errors.ALL], result_path="$.error")
        # A failed Start run leaves the raw input in the state: only the error goes on, so that
        # Record the failure finds no run of ours to undo (a crafted "run" key must not be trusted).
        only_the_error = sfn.Pass(self, "Keep only the error", parameters={"error": sfn.JsonPath.object_at("$.error")})
        start.add_catch(only_the_error.next(record), errors=[errors.ALL], result_path="$.error")

        # The token endpoint asked to wait (BCDA's SSAS: 429 with Retry-After 300).
        wait_for_token = sfn.Wait(
            self, "Wait for the token endpoint", time=sfn.WaitTime.seconds_path("$.auth.wait_seconds")
        )
        authenticated = (
            sfn.Choice(self, "Authenticated?")
            .when(sfn.Condition.string_equals("$.auth.status", "wait"), wait_for_token.next(authenticate))
            .otherwise(kick_off)
        )
        # Throttled kick-off (429): wait as the server asked, then kick off again.
        wait_to_kick_off = sfn.Wait(
            self, "Wait before kicking off again", time=sfn.WaitTime.seconds_path("$.job.wait_seconds")
        )
        # A resumed job that cannot continue was abandoned: the run starts over from its validated input.
        start_over = sfn.Pass(self, "Start over", input_path="$.run.input")
        wait_for_export = sfn.Wait(self, "Wait for the export", time=sfn.WaitTime.seconds_path("$.poll.wait_seconds"))
        export_complete = (
            sfn.Choice(self, "Export complete?")
            .when(
                sfn.Condition.string_equals("$.poll.state", "complete"),
                download.next(resolve).next(finalize).next(sfn.Succeed(self, "Export landed")),
            )
            .otherwise(wait_for_export.next(check))
        )
        export_accepted = (
            sfn.Choice(self, "Export accepted?")
            .when(sfn.Condition.string_equals("$.job.status", "accepted"), check.next(export_complete))
            .when(sfn.Condition.string_equals("$.job.status", "restart"), start_over.next(start))
            .otherwise(wait_to_kick_off.next(kick_off))
        )
        kick_off.next(export_accepted)
        authenticate.next(authenticated)
        rebuild_or_export = (
            sfn.Choice(self, "Rebuild claims?")
            .when(sfn.Condition.string_equals("$.run.mode", "rebuild_claims"), plan.next(rebuild).next(resolve))
            .otherwise(authenticate)
        )
        return start.next(rebuild_or_export)

    def _task(
        self, name: str, function: lambda_.IFunction, result_path: str, payload: sfn.TaskInput | None = None
    ) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self, name, lambda_function=function, payload_response_only=True, result_path=result_path, payload=payload
        )
        retry_transient(task)
        return task
