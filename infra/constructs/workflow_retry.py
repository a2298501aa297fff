"""The state machine's Retry policy (docs/architecture.md §2), keyed on the error class names.

Lambda service errors keep CDK's default retry (``retry_on_service_exceptions``), which leaves out
throttling; everything not retried here is caught by ``States.ALL`` into the failure path.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from infra import error_names as errors

#: (interval seconds, backoff rate, max attempts)
TRANSIENT_RETRY = (5, 2, 4)
VERIFICATION_RETRY = (5, 2, 2)
#: Lambda throttling: 2 s doubling up to 5 minutes, 12 attempts (about 28 minutes at most, half that on
#: average with full jitter), so that a Distributed Map wider than the account's concurrency quota
#: waits for a wave of 15-minute downloads to finish instead of failing its files.
THROTTLING_RETRY = (2, 2, 12)
THROTTLING_MAX_DELAY_SECONDS = 300
#: A function that ran out of time: once more, after 10 s.
TIMED_OUT_RETRY = (10, 2, 1)


def retry_transient(task: tasks.LambdaInvoke) -> None:
    """Transient failures: Lambda throttling the invocation, then our TransientError (5xx, 429,
    timeouts: wait 5 s, 10 s, 20 s, 40 s)."""
    interval, backoff_rate, max_attempts = THROTTLING_RETRY
    # Full jitter spreads the map's throttled children apart, so they do not come back all at once.
    task.add_retry(
        errors=[errors.LAMBDA_THROTTLED],
        interval=Duration.seconds(interval),
        backoff_rate=backoff_rate,
        max_attempts=max_attempts,
        max_delay=Duration.seconds(THROTTLING_MAX_DELAY_SECONDS),
        jitter_strategy=sfn.JitterType.FULL,
    )
    _retry(task, (errors.TRANSIENT,), TRANSIENT_RETRY)


def retry_timed_out(task: tasks.LambdaInvoke) -> None:
    """A step that may simply run again (it asks the server and overwrites what it wrote: Authenticate,
    Check export status) tries once more when Lambda ended it, instead of the failure path cancelling
    the server's job on the first timeout (issue #14, item 9). Kick off export is not one: a second
    kick-off may start a second job."""
    _retry(task, errors.LAMBDA_TIMED_OUT, TIMED_OUT_RETRY)


def retry_verification(task: tasks.LambdaInvoke) -> None:
    """A landed file failed its checks (truncated body, checksum): download it again, twice at most."""
    _retry(task, (errors.VERIFICATION,), VERIFICATION_RETRY)


def _retry(task: tasks.LambdaInvoke, names: tuple[str, ...], policy: tuple[int, int, int]) -> None:
    interval, backoff_rate, max_attempts = policy
    task.add_retry(
        errors=list(names), interval=Duration.seconds(interval), backoff_rate=backoff_rate, max_attempts=max_attempts
    )
