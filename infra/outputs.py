"""The stack's outputs: the keys the ``bulk-ingest`` CLI reads, and the words ``cdk deploy`` prints.

No CDK import: the CLI uses this module to find a deployed stack's resources.
"""

from __future__ import annotations

import re

from infra.config import IngestConfig

BUCKET_NAME = "BucketName"
TABLE_NAME = "TableName"
STATE_MACHINE_ARN = "StateMachineArn"
ALARM_TOPIC_ARN = "AlarmTopicArn"
#: JSON: source name -> {"api", "secret_arn"}, so the CLI can check and store a source's credentials.
SOURCES = "Sources"
#: What to do before the first scheduled run; ``cdk deploy`` prints output values, not descriptions.
NEXT_STEP = "NextStep"
EGRESS_IP = "EgressIp"
#: The Glue database and the Athena workgroup ``bulk-ingest claims --stack`` queries through.
GLUE_DATABASE = "GlueDatabase"
ATHENA_WORKGROUP = "AthenaWorkGroup"
#: A managed policy with what a querying user needs (the stack attaches it to no one).
QUERY_POLICY_ARN = "QueryPolicyArn"


def secret_arn_key(source_name: str) -> str:
    """``SecretArnBcdaSandbox`` for source ``bcda-sandbox``."""
    return "SecretArn" + "".join(part[:1].upper() + part[1:] for part in re.split(r"[^a-z0-9]+", source_name))


def set_secret_command(source_name: str) -> str:
    return f"bulk-ingest secret set --source {source_name} --file creds.json"


def next_step(config: IngestConfig) -> str:
    """The first-time deployer's to-do list, one line."""
    runs = "; ".join(
        f"{set_secret_command(source.name)} (first run {source.schedule} UTC)"
        if source.schedule_enabled
        else f"{set_secret_command(source.name)} (schedule disabled)"
        for source in config.sources
    )
    alarms = (
        f"Confirm the subscription e-mail sent to {config.alarm_email}, or alarms are not delivered."
        if config.alarm_email
        else f"No alarm_email is configured: subscribe to the {ALARM_TOPIC_ARN} topic to hear of failed runs."
    )
    return (
        f"Before the first scheduled run, put each source's credentials into its secret, or that run fails "
        f"with ConfigurationError: {runs}. {alarms}"
    )
