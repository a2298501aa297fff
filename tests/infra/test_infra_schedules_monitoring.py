"""Schedules (one per source), alarms and outputs."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match
from cdk_helpers import Synth, dumps

from infra.asl_extract import resolve

#: Only alarms of this account and region may act through the CloudWatch service principal.
ALARMS_OF_THIS_ACCOUNT = {
    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
    "ArnLike": {
        "aws:SourceArn": {
            "Fn::Join": [
                "",
                ["arn:", {"Ref": "AWS::Partition"}, ":cloudwatch:", {"Ref": "AWS::Region"}, ":",
                 {"Ref": "AWS::AccountId"}, ":alarm:*"],
            ]
        }
    },
}  # fmt: skip


def schedules_by_source(synth: Synth) -> dict[str, dict]:
    found = {}
    for schedule in synth.resources("AWS::Scheduler::Schedule").values():
        props = schedule["Properties"]
        found[json.loads(props["Target"]["Input"])["source"]] = props
    return found


def test_one_schedule_per_source_with_its_cron_and_state(variant: Synth) -> None:
    schedules = schedules_by_source(variant)
    assert set(schedules) == {"bcda-sandbox", "ab2d-prod"}
    bcda, ab2d = schedules["bcda-sandbox"], schedules["ab2d-prod"]
    assert (bcda["ScheduleExpression"], bcda["State"]) == ("cron(0 6 10 * ? *)", "ENABLED")
    assert (ab2d["ScheduleExpression"], ab2d["State"]) == ("cron(30 4 ? * MON *)", "DISABLED")


def test_schedule_starts_the_state_machine_with_the_source_as_input(default: Synth) -> None:
    (props,) = schedules_by_source(default).values()
    machine_id = next(iter(default.resources("AWS::StepFunctions::StateMachine")))
    assert props["Target"]["Arn"] == {"Ref": machine_id}
    assert json.loads(props["Target"]["Input"]) == {"source": "bcda-sandbox"}
    assert "SchedulesRole" in dumps(props["Target"]["RoleArn"])
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props["ScheduleExpressionTimezone"] == "Etc/UTC"
    assert "StorageKey" in dumps(props["KmsKeyArn"])


def test_schedule_role_trusts_only_the_scheduler_of_this_account(default: Synth) -> None:
    (role,) = [r for lid, r in default.resources("AWS::IAM::Role").items() if lid.startswith("SchedulesRole")]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_alarms_on_failed_timed_out_and_aborted_runs_to_an_encrypted_topic(default: Synth) -> None:
    topic_id, topic = next(iter(default.resources("AWS::SNS::Topic").items()))
    assert "StorageKey" in dumps(topic["Properties"]["KmsMasterKeyId"])
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in default.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["Namespace"] == "AWS/States"
    }
    assert set(alarms) == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    for alarm in alarms.values():
        assert alarm["Namespace"] == "AWS/States"
        assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 300, 1)
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]


def test_an_alarm_per_source_on_runs_that_landed_in_part(default: Synth, variant: Synth) -> None:
    """A partial run succeeds and holds its watermark (issue #14, item 4): Finalize's RunsPartial metric,
    with the dimensions Powertools gives it (service and Source), is what tells the operator."""
    for synth, sources in ((default, {"bcda-sandbox"}), (variant, {"bcda-sandbox", "ab2d-prod"})):
        topic_id = next(iter(synth.resources("AWS::SNS::Topic")))
        partial = [
            a["Properties"]
            for a in synth.resources("AWS::CloudWatch::Alarm").values()
            if a["Properties"]["MetricName"] == "RunsPartial"
        ]
        by_source = {}
        for alarm in partial:
            dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
            assert alarm["Namespace"] == "BulkFhirIngest"
            assert dimensions.keys() == {"service", "Source"}
            assert dimensions["service"] == "bulk-fhir-ingest"
            assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 300, 1)
            assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
            assert alarm["TreatMissingData"] == "notBreaching"
            assert alarm["AlarmActions"] == [{"Ref": topic_id}]
            assert dimensions["Source"] in alarm["AlarmDescription"]
            by_source[dimensions["Source"]] = alarm
        assert by_source.keys() == sources and len(partial) == len(sources)


def test_topic_accepts_only_tls(default: Synth) -> None:
    (policy,) = default.resources("AWS::SNS::TopicPolicy").values()
    (deny,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_cloudwatch_may_publish_the_alarms_of_this_account_to_the_topic(default: Synth) -> None:
    # enforce_ssl gives the topic its own policy, replacing SNS's default: without this Allow,
    # CloudWatch is refused sns:Publish and no alarm is ever delivered.
    (topic_id,) = default.resources("AWS::SNS::Topic")
    default.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "AllowCloudWatchAlarmsToPublish",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": {"Ref": topic_id},
                            "Condition": ALARMS_OF_THIS_ACCOUNT,
                        }
                    ]
                )
            },
        },
    )


def test_cloudwatch_may_use_the_key_only_for_the_alarms_of_this_account(default: Synth) -> None:
    default.template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "AllowCloudWatchAlarmsToPublish",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                            "Resource": "*",
                            "Condition": ALARMS_OF_THIS_ACCOUNT,
                        }
                    ]
                )
            }
        },
    )


def test_email_subscription_only_when_configured(default: Synth, variant: Synth) -> None:
    assert default.resources("AWS::SNS::Subscription") == {}
    (subscription,) = variant.resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "data-team@example.org"


def test_outputs(default: Synth, variant: Synth) -> None:
    assert set(default.json["Outputs"]) == {
        "BucketName",
        "TableName",
        "StateMachineArn",
        "AlarmTopicArn",
        "SecretArnBcdaSandbox",
        "Sources",
        "NextStep",
        "GlueDatabase",
        "AthenaWorkGroup",
        "QueryPolicyArn",
    }
    assert {"SecretArnBcdaSandbox", "SecretArnAb2dProd"} <= set(variant.json["Outputs"])


def test_sources_output_gives_each_sources_api_and_secret_for_the_cli(variant: Synth) -> None:
    (created,) = variant.resources("AWS::SecretsManager::Secret")
    sources = json.loads(resolve(variant.json["Outputs"]["Sources"]["Value"], variant.json))
    assert sources == {
        "bcda-sandbox": {
            "api": "bcda",
            "secret_arn": resolve({"Ref": created}, variant.json),
        },
        "ab2d-prod": {
            "api": "ab2d",
            "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:cms/ab2d-prod",
        },
    }


def test_cdk_deploy_prints_that_the_secrets_must_be_filled_before_the_first_scheduled_run(
    default: Synth, variant: Synth
) -> None:
    # `cdk deploy` prints output values (not descriptions): the to-do list is a value.
    default.template.has_output(
        "NextStep",
        {
            "Value": "Before the first scheduled run, put each source's credentials into its secret, or that run "
            "fails with ConfigurationError: bulk-ingest secret set --source bcda-sandbox --file creds.json "
            "(first run cron(0 6 10 * ? *) UTC). No alarm_email is configured: subscribe to the AlarmTopicArn "
            "topic to hear of failed runs."
        },
    )
    text = variant.json["Outputs"]["NextStep"]["Value"]
    assert "bulk-ingest secret set --source ab2d-prod --file creds.json (schedule disabled)" in text
    assert "Confirm the subscription e-mail sent to data-team@example.org" in text
    default.template.has_output(
        "SecretArnBcdaSandbox",
        {
            "Description": "Credentials of source bcda-sandbox (bcda); fill them before its first scheduled run: "
            "bulk-ingest secret set --source bcda-sandbox --file creds.json"
        },
    )
