"""The error names the state machine retries and catches (docs/architecture.md §2).

Lambda reports ``errorType = type(exc).__name__`` and Step Functions matches ``ErrorEquals`` on that
exact string, so these are the class names of ``bulkfhir.errors`` and ``ingest.errors``, kept here as
data because ``infra`` never imports the Lambda code (a test compares them with the classes).
"""

from __future__ import annotations

# bulkfhir.errors
TRANSIENT = "TransientError"
AUTHENTICATION = "AuthenticationError"
EXPORT_FAILED = "ExportFailedError"
EXPORT_GONE = "ExportGoneError"
BAD_REQUEST = "BadRequestError"
UNEXPECTED_RESPONSE = "UnexpectedResponseError"

# ingest.errors
RUN_IN_PROGRESS = "RunInProgressError"
CONFIGURATION = "ConfigurationError"
VERIFICATION = "VerificationError"
EXPORT_TIMED_OUT = "ExportTimedOutError"
INCOMPLETE_RUN = "IncompleteRunError"

BULKFHIR_ERRORS = (TRANSIENT, AUTHENTICATION, EXPORT_FAILED, EXPORT_GONE, BAD_REQUEST, UNEXPECTED_RESPONSE)
INGEST_ERRORS = (RUN_IN_PROGRESS, CONFIGURATION, VERIFICATION, EXPORT_TIMED_OUT, INCOMPLETE_RUN)

#: What Step Functions reports when Lambda throttles an invocation (the account's or the function's
#: concurrency limit): the function did not run, so retrying it is always safe.
LAMBDA_THROTTLED = "Lambda.TooManyRequestsException"

#: What Step Functions reports when a function ran out of time: ``Sandbox.Timedout`` from current
#: runtimes, ``Lambda.Unknown`` where Lambda gives no error type (a timeout on older runtimes, or out
#: of memory). The HTTP bounds make a slow server a TransientError first (timeouts nest), so these
#: mean something else held the step up; the idempotent steps try once more before the failure path.
LAMBDA_TIMED_OUT = ("Sandbox.Timedout", "Lambda.Unknown")

#: Catch-all of the failure path: everything not retried ends in "Record the failure".
ALL = "States.ALL"
