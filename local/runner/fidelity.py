"""Where moto's Step Functions engine differs from AWS in a way this stack depends on, the AWS
behaviour is restored here (each patch says which rule it enforces).

- A Distributed Map run fails with ``States.ExceedToleratedFailureThreshold`` when more items
  fail than ToleratedFailureCount / ToleratedFailurePercentage allow — both default to 0, so one
  failed file fails the map in AWS. moto 5.2 counts failed items but lets the map succeed.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any
from unittest import mock

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

_THRESHOLD = StatesErrorNameType.StatesExceedToleratedFailureThreshold


def exceeds_tolerance(failed: int, total: int, tolerated_count: int, tolerated_percentage: float) -> bool:
    if failed == 0:
        return False
    return failed > tolerated_count or (total > 0 and failed * 100.0 / total > tolerated_percentage)


def aws_semantics() -> ExitStack:
    stack = ExitStack()
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
    return stack
