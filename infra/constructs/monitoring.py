"""Alarms on failed, timed-out, aborted and partial runs, to an encrypted SNS topic (optionally e-mailed).

The Lambdas themselves put ``ExportLanded`` and ``ExportFailed`` on the default event bus
(docs/architecture.md §6); subscribe a rule to those for richer notifications than these alarms.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import contract
from infra.config import IngestConfig

_CLOUDWATCH = "cloudwatch.amazonaws.com"


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: IngestConfig,
        state_machine: sfn.StateMachine,
        key: kms.Key,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = self._build_topic(key)
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self.alarms = {
            name: self._build_alarm(name, metric, description)
            for name, metric, description in (
                ("RunFailed", state_machine.metric_failed(), "An export run failed; see its ExportFailed event."),
                ("RunTimedOut", state_machine.metric_timed_out(),
                 "An export run hit the state machine timeout; its lease is released only when it expires."),
                ("RunAborted", state_machine.metric_aborted(), "An export run was stopped by hand."),
            )
        }  # fmt: skip
        # A run that landed in part succeeds (its files are kept and curated) and holds its watermark,
        # so the next run asks again; without an alarm nobody would notice a server that keeps
        # failing the same outputs every month.
        for source in config.sources:
            metric = cloudwatch.Metric(
                namespace=contract.POWERTOOLS["POWERTOOLS_METRICS_NAMESPACE"],
                metric_name=contract.RUNS_PARTIAL_METRIC,
                dimensions_map=contract.run_metric_dimensions(source.name),
            )
            description = (
                f"A run of source {source.name} landed in part: the server reported outputs it failed to "
                "export (the ExportLanded event's and the run ledger's 'partial'); the watermark stayed, so "
                "the next run asks again."
            )
            self.alarms[f"RunPartial-{source.name}"] = self._build_alarm(
                f"RunPartial-{source.name}", metric, description
            )

    def _build_topic(self, key: kms.Key) -> sns.Topic:
        # CloudWatch publishes the alarms to the encrypted topic, so it may use the key for that.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal(_CLOUDWATCH)],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],  # in a key policy "*" is this key
                conditions=self._alarms_of_this_account(),
            )
        )
        topic = sns.Topic(self, "Alarms", display_name="bulk-fhir-ingest alarms", master_key=key, enforce_ssl=True)
        # enforce_ssl gives the topic a policy of its own, which replaces SNS's default one: without
        # this statement CloudWatch is refused sns:Publish and no alarm is ever delivered.
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal(_CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions=self._alarms_of_this_account(),
            )
        )
        return topic

    def _alarms_of_this_account(self) -> dict[str, dict[str, str]]:
        """Only alarms of this account and region may act through the service principal (confused deputy).

        All of them, not just this stack's: naming the alarms' ARNs would make the key depend on the
        alarms, which depend on the topic and so on the key.
        """
        alarms = Stack.of(self).format_arn(
            service="cloudwatch", resource="alarm", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        return {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}, "ArnLike": {"aws:SourceArn": alarms}}

    def _build_alarm(self, name: str, metric: cloudwatch.Metric, description: str) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            name,
            alarm_description=f"bulk-fhir-ingest: {description}",
            metric=metric.with_(statistic=cloudwatch.Stats.SUM, period=Duration.minutes(5)),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        return alarm
