"""Following an execution (local or deployed): the states it passes through, the export's
progress, and how many files have landed.

Each ``tick()`` reads only the events added since the last one: the history newest first, down to
the last event seen (one page of :data:`PAGE` events while little happens). A long wait's history
grows by a few events per status poll; reading all of it at every tick made following a run cost
more the longer it ran.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any

from boto3.dynamodb.conditions import Key

#: events per GetExecutionHistory page while following: a tick seldom finds more new ones
PAGE = 25


def execution_history(stepfunctions: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every history event of an execution (all pages)."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = stepfunctions.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


class Progress:
    """Prints what changed since the last ``tick()``; ``table`` is the stack's DynamoDB table."""

    def __init__(self, stepfunctions: Any, table: Any, execution_arn: str, out: IO[str] = sys.stderr) -> None:
        self._stepfunctions = stepfunctions
        self._table = table
        self._arn = execution_arn
        self._out = out
        self._last_event_id = 0
        self._run_id: str | None = None
        self._file_count: int | None = None
        self._landed = -1
        self._last_line = ""
        self._started = time.monotonic()

    def _say(self, line: str) -> None:
        if line != self._last_line:
            self._out.write(f"  [{time.monotonic() - self._started:6.1f} s] {line}\n")
            self._out.flush()
            self._last_line = line

    def tick(self) -> None:
        for event in self._new_events():
            if event["type"] == "TaskStateEntered" and event["stateEnteredEventDetails"]["name"] == "Finalize run":
                self._downloads()  # the final count before the states that follow the map
            self._event(event)
        self._downloads()

    def _new_events(self) -> list[dict[str, Any]]:
        """The events after the last one seen, oldest first."""
        fresh: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": self._arn, "reverseOrder": True, "maxResults": PAGE}
        while True:
            page = self._stepfunctions.get_execution_history(**kwargs)
            for event in page["events"]:
                if event["id"] <= self._last_event_id:
                    return self._seen(fresh)
                fresh.append(event)
            if not page.get("nextToken"):
                return self._seen(fresh)
            kwargs["nextToken"] = page["nextToken"]

    def _seen(self, newest_first: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if newest_first:
            self._last_event_id = newest_first[0]["id"]
        return newest_first[::-1]

    def _downloads(self) -> None:
        if not (self._run_id and self._file_count):
            return
        landed = self._table.query(
            KeyConditionExpression=Key("pk").eq(f"RUN#{self._run_id}") & Key("sk").begins_with("FILE#"),
            Select="COUNT",
        )["Count"]
        if landed != self._landed:
            self._landed = landed
            self._say(f"Download files: {landed} of {self._file_count} landed")

    def _event(self, event: dict[str, Any]) -> None:
        if event["type"].endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            if name not in ("Export accepted?", "Export complete?", "Download files", "Wait for the export"):
                self._say(name)
        elif event["type"] == "WaitStateEntered":
            state = json.loads(event["stateEnteredEventDetails"].get("input") or "{}")
            seconds = (state.get("poll") or state.get("job") or {}).get("wait_seconds")
            self._say(f"{event['stateEnteredEventDetails']['name']}: {seconds} s")
        elif event["type"].endswith("StateExited"):
            details = event["stateExitedEventDetails"]
            output = json.loads(details.get("output") or "{}")
            if details["name"] == "Start run":
                self._run_id = output.get("run", {}).get("run_id")
            elif details["name"] == "Check export status":
                poll = output.get("poll", {})
                if poll.get("state") == "complete":
                    self._file_count = poll.get("file_count")
                    self._say(f"export complete: {self._file_count} files")
                elif poll.get("progress"):
                    self._say(f"export in progress: {poll['progress']}")
            elif details["name"] == "Kick off export":
                job = output.get("job", {})
                if job.get("status") == "throttled":
                    self._say(f"the server is busy (429): kicking off again in {job.get('wait_seconds')} s")
