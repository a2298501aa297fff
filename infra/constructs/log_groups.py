"""KMS-encrypted CloudWatch log groups with the configured retention."""

from __future__ import annotations

from aws_cdk import Fn, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS, 120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS, 180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS, 545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS, 1096: logs.RetentionDays.THREE_YEARS, 1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS, 2557: logs.RetentionDays.SEVEN_YEARS, 2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS, 3653: logs.RetentionDays.TEN_YEARS,
}  # fmt: skip


def encrypted_log_group(
    scope: Construct, construct_id: str, *, key: kms.IKey, retention_days: int, name: str | None = None
) -> logs.LogGroup:
    """Retained when the stack is deleted; ``name`` ``None`` lets CloudFormation name it."""
    return logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        encryption_key=key,
        retention=_RETENTION[retention_days],
        removal_policy=RemovalPolicy.RETAIN,
    )


def vended_log_group_name(scope: Construct, service: str) -> str:
    """``/aws/vendedlogs/<service>/<stack name>-<stack UUID>``, for a log group an AWS service delivers to.

    A service that delivers logs must be named in the account's CloudWatch Logs resource policy, which
    holds 5,120 characters; log groups under ``/aws/vendedlogs/`` share one entry there, so creating the
    state machine does not fail in a busy account. The stack's UUID (new at every create) keeps the
    name free after ``cdk destroy``, which retains the old group.
    """
    stack = Stack.of(scope)
    stack_uuid = Fn.select(2, Fn.split("/", stack.stack_id))
    return f"/aws/vendedlogs/{service}/{stack.stack_name}-{stack_uuid}"
