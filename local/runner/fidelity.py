"""Where moto's Step Functions engine differs from AWS in a way this stack depends on, the AWS
behaviour is restored here (each patch says which rule it enforces).

- A Distributed Map run fails with ``States.ExceedToleratedFailureThreshold`` when more items
  fail than ToleratedFailureCount / ToleratedFailurePercentage allow — both default to 0, so one
  failed file fails the map in AWS. moto 5.2 counts failed items but lets the map succeed.
- GetExecutionHistory returns pages: ``maxResults`` events (default 100, at most 1000), oldest
  first or with ``reverseOrder`` newest first, and a ``nextToken`` while more remain. moto 5.2
  ignores all three and deep-copies the whole history on every call, so a follower that reads
  only what is new (newest first, down to the last event it saw) would read everything each time.
- DynamoDB applies each request whole, whoever else writes meanwhile: a Query or Scan never fails
  because another client put an item. moto's tables are plain dicts shared by every thread, so a
  Query iterating a partition while a parallel download's Lambda writes to it raised
  ``RuntimeError: dictionary changed size during iteration`` (seen on a 520-file local run). Each
  DynamoDB request runs under one lock.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any
from unittest import mock

from moto.core.responses import ActionResult
from moto.dynamodb.responses import DynamoHandler
from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.responses import StepFunctionResponse

_THRESHOLD = StatesErrorNameType.StatesExceedToleratedFailureThreshold
HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX = 100, 1000


def exceeds_tolerance(failed: int, total: int, tolerated_count: int, tolerated_percentage: float) -> bool:
    if failed == 0:
        return False
    return failed > tolerated_count or (total > 0 and failed * 100.0 / total > tolerated_percentage)


def history_page(
    events: Sequence[Any], max_results: int | None, reverse: bool, token: str | None
) -> tuple[list[Any], str | None]:
    """One page of ``events`` (oldest first) as GetExecutionHistory gives it, and the next token.

    The token is the position where the next page starts (forward) or ends (reverse); a history
    only grows at its end, so positions stay valid while the execution runs.
    """
    size = min(max_results or HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX)
    if reverse:
        end = int(token) if token else len(events)
        start = max(0, end - size)
        return list(reversed(events[start:end])), str(start) if start > 0 else None
    start = int(token) if token else 0
    end = min(len(events), start + size)
    return list(events[start:end]), str(end) if end < len(events) else None


def _get_execution_history(self: StepFunctionResponse) -> ActionResult:
    execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
    env = execution.exec_worker.env if execution.exec_worker is not None else None
    if env is None:  # not started yet
        return ActionResult({"events": []})
    manager = env.event_manager
    with manager._mutex:
        page, token = history_page(
            manager._history_event_list,
            self._get_param("maxResults"),
            bool(self._get_param("reverseOrder")),
            self._get_param("nextToken"),
        )
        page = copy.deepcopy(page)
    return ActionResult({"events": page, "nextToken": token} if token else {"events": page})


#: one DynamoDB request at a time (re-entrant: moto's handlers may call each other)
DYNAMODB_REQUEST_LOCK = threading.RLock()
_original_dynamodb_call_action = DynamoHandler.call_action


def _dynamodb_call_action(self: DynamoHandler) -> Any:
    with DYNAMODB_REQUEST_LOCK:
        return _original_dynamodb_call_action(self)


def aws_semantics() -> ExitStack:
    stack = ExitStack()
    stack.enter_context(mock.patch.object(DynamoHandler, "call_action", _dynamodb_call_action))
    original_map_run = DistributedIterationComponent._map_run

    def map_run(self: DistributedIterationComponent, env: Any, eval_input: Any) -> None:
        original_map_run(self, env, eval_input)
        record = eval_input.map_run_record
        items = record.item_counter
        failed = items.failed.get() + items.timed_out.get()
        if exceeds_tolerance(
            failed, items.total.get(), record.tolerated_failure_count or 0, record.tolerated_failure_percentage or 0.0
        ):
            env.stack.pop()  # the map's outputs
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=_THRESHOLD),
                    event_type=HistoryEventType.ExecutionFailed,
                    event_details=EventDetails(
                        executionFailedEventDetails=ExecutionFailedEventDetails(
                            error=_THRESHOLD.to_name(),
                            cause=f"The specified tolerated failure threshold was exceeded: "
                            f"{failed} of {items.total.get()} items failed",
                        )
                    ),
                )
            )

    stack.enter_context(mock.patch.object(DistributedIterationComponent, "_map_run", map_run))
    stack.enter_context(mock.patch.object(StepFunctionResponse, "get_execution_history", _get_execution_history))
    return stack
