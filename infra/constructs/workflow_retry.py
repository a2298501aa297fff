"""The state machine's Retry policy (docs/architecture.md §2), keyed on the error class names.

Lambda service errors keep CDK's default retry (``retry_on_service_exceptions``); everything not
retried here is caught by ``States.ALL`` into the failure path.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions_tasks as tasks

from infra import error_names as errors

#: (interval seconds, backoff rate, max attempts)
TRANSIENT_RETRY = (5, 2, 4)
VERIFICATION_RETRY = (5, 2, 2)


def retry_transient(task: tasks.LambdaInvoke) -> None:
    """5xx, 429, timeouts: wait 5 s, 10 s, 20 s, 40 s."""
    _retry(task, errors.TRANSIENT, TRANSIENT_RETRY)


def retry_verification(task: tasks.LambdaInvoke) -> None:
    """A landed file failed its checks (truncated body, checksum): download it again, twice at most."""
    _retry(task, errors.VERIFICATION, VERIFICATION_RETRY)


def _retry(task: tasks.LambdaInvoke, error: str, policy: tuple[int, int, int]) -> None:
    interval, backoff_rate, max_attempts = policy
    task.add_retry(
        errors=[error], interval=Duration.seconds(interval), backoff_rate=backoff_rate, max_attempts=max_attempts
    )
