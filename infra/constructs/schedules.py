"""One EventBridge Scheduler schedule per source: ``{"source": name}`` into the state machine."""

from __future__ import annotations

from aws_cdk import TimeZone
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import IngestConfig
from infra.constructs.permissions import service_role


class Schedules(Construct):
    """``schedules[source name]``; a source with ``schedule_enabled: false`` gets a disabled one."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: IngestConfig,
        state_machine: sfn.IStateMachine,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        role = self._build_role(state_machine, key)
        self.schedules = {
            source.name: scheduler.Schedule(
                self,
                source.name,
                description=f"bulk-fhir-ingest: start an export of source {source.name!r}",
                schedule=scheduler.ScheduleExpression.expression(source.schedule, TimeZone.ETC_UTC),
                enabled=source.schedule_enabled,
                key=key,
                time_window=scheduler.TimeWindow.off(),
                target=targets.StepFunctionsStartExecution(
                    state_machine,
                    input=scheduler.ScheduleTargetInput.from_object({"source": source.name}),
                    role=role,
                ),
            )
            for source in config.sources
        }

    def _build_role(self, state_machine: sfn.IStateMachine, key: kms.IKey) -> iam.IRole:
        policy = iam.ManagedPolicy(
            self,
            "StartExecutionPolicy",
            description="bulk-fhir-ingest schedules: start the state machine",
            statements=[
                iam.PolicyStatement(
                    sid="StartExport", actions=["states:StartExecution"], resources=[state_machine.state_machine_arn]
                ),
                # The schedules' payload is encrypted with the stack's key. No kms:ViaService here: the
                # scheduler decrypts with this role's own session, which only the scheduler can assume.
                iam.PolicyStatement(sid="ReadEncryptedSchedule", actions=["kms:Decrypt"], resources=[key.key_arn]),
            ],
        )
        role = service_role(
            self,
            "Role",
            service="scheduler.amazonaws.com",
            description="bulk-fhir-ingest schedules: start the state machine",
            policy=policy,
        )
        return role.without_policy_updates()
