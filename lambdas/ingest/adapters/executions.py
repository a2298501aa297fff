"""Step Functions: is the execution that holds a lease still running?

A run's lease is released by its own finalize or failure path. An execution that is stopped by hand
(ABORTED) or by the state machine's timeout (TIMED_OUT) runs neither, so its lease would block the
scope until it expires. Start run asks here before refusing, and takes over a lease whose holder
has ended.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

logger = logging.getLogger(__name__)


class StepFunctionsExecutions:
    def __init__(self, client: Any) -> None:
        self._client = client

    def status(self, execution: str) -> str | None:
        """``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``TIMED_OUT``, ``ABORTED`` (or ``PENDING_REDRIVE``);
        None when it cannot be told (not an execution ARN, not found, not allowed): the caller must then
        treat the holder as alive."""
        if not execution.startswith("arn:"):
            return None
        try:
            return str(self._client.describe_execution(executionArn=execution)["status"])
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            logger.warning(
                "cannot tell whether the lease holder still runs", extra={"execution": execution, "error_code": code}
            )
            return None

    def history_events(self, execution: str) -> int | None:
        """How many events the execution's history holds so far; None when it cannot be read. A run
        must stay far below Step Functions' 25,000: the run ledger records the count."""
        if not execution.startswith("arn:"):
            return None
        count = 0
        kwargs: dict[str, Any] = {"executionArn": execution, "maxResults": 1000}
        try:
            while True:
                page = self._client.get_execution_history(**kwargs)
                count += len(page.get("events", []))
                if not page.get("nextToken"):
                    return count
                kwargs["nextToken"] = page["nextToken"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            logger.warning("cannot count the execution's history", extra={"error_code": code})
            return None
