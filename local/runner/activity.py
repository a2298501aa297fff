"""Wakes whoever follows a local run when something happens in emulated Step Functions, so that
following costs nothing while the run waits (a Wait state, a slow server).

Something happens when an execution's history grows (a state entered or left, a Lambda invoked, a
map's child execution moving on) or when an execution ends: moto sets the status after the last
history event, hence the second hook.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Any
from unittest import mock

from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication


class Activity:
    def __init__(self) -> None:
        self._happened = threading.Event()

    def wait(self, timeout: float) -> bool:
        """Until something happens after the previous wait() returned (at once if it already did),
        or ``timeout`` seconds; False on a timeout."""
        happened = self._happened.wait(timeout)
        self._happened.clear()
        return happened

    def patch(self) -> ExitStack:
        activity = self._happened
        stack = ExitStack()
        add_event, terminated = EventManager.add_event, BaseExecutionWorkerCommunication.terminated

        def add_event_and_wake(manager: EventManager, *args: Any, **kwargs: Any) -> int:
            event_id: int = add_event(manager, *args, **kwargs)
            activity.set()
            return event_id

        def terminated_and_wake(communication: BaseExecutionWorkerCommunication) -> None:
            terminated(communication)
            activity.set()

        stack.enter_context(mock.patch.object(EventManager, "add_event", add_event_and_wake))
        stack.enter_context(mock.patch.object(BaseExecutionWorkerCommunication, "terminated", terminated_and_wake))
        return stack
