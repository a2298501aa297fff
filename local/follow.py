"""Following an execution (local or deployed): the states it passes through, the export's
progress (one line per change the server reports, not one per poll), and the downloads' files,
bytes, rate and ETA (:mod:`local.download_progress`).

While work is under way (a task or the downloads) a line comes at least every :data:`QUIET_SECONDS`;
a wait for the server is said once, with how long until the next look.

Each ``tick()`` reads only the events added since the last one: the history newest first, down to
the last event seen (one page of :data:`PAGE` events while little happens). A long wait's history
grows by a few events per status poll; reading all of it at every tick made following a run cost
more the longer it ran.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from local.download_progress import DownloadMeter

#: events per GetExecutionHistory page while following: a tick seldom finds more new ones
PAGE = 25
#: A line after this much silence while work is under way: with a tick at least every second or two,
#: no stretch without a line lasts more than 10 s.
QUIET_SECONDS = 8.0
#: A download line at most this often while only its bytes change.
PACE_SECONDS = 5.0
#: States said once per run: the export's polling loop passes through them at every poll.
_SAID_ONCE = ("Check export status",)
#: States not said by name (their progress lines say more).
_UNNAMED = ("Export accepted?", "Export complete?", "Download files", "Wait for the export",
            "Wait before kicking off again")  # fmt: skip


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
    """Prints what changed since the last ``tick()``; ``table`` is the stack's DynamoDB table, ``s3`` and
    ``bucket`` its landing bucket (for bytes in flight). Times are ``clock()`` seconds since ``started``."""

    def __init__(
        self,
        stepfunctions: Any,
        table: Any,
        execution_arn: str,
        out: IO[str] = sys.stderr,
        *,
        s3: Any = None,
        bucket: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        started: float | None = None,
    ) -> None:
        self._stepfunctions = stepfunctions
        self._arn = execution_arn
        self._out = out
        self._clock = clock
        self._started = clock() if started is None else started
        self._meter = DownloadMeter(table, s3, bucket, clock)
        self._lock = threading.Lock()
        self._last_event_id = 0
        self._source: str | None = None
        self._run_id: str | None = None
        self._downloading = False
        self._file_count = 0
        self._landed = -1
        self._last_line = ""
        self._last_line_at = self._started
        self._download_line_at = self._started
        self._said: set[str] = set()
        self._notes: list[tuple[float, str]] = []
        self._progress: str | None = None
        #: the state under way (a task, the map) and since when; None while waiting or between states
        self._busy: tuple[str, float] | None = None

    @property
    def waiting(self) -> bool:
        """Whether the execution sits in a Wait state (nothing to say until it moves)."""
        return self._busy is None and not self._downloading

    def say(self, line: str, *, repeat: bool = False) -> None:
        """One timestamped, indented line (from any thread); an unchanged line only when ``repeat``."""
        with self._lock:
            if line == self._last_line and not repeat:
                return
            now = self._clock()
            self._out.write(f"  [{now - self._started:6.1f} s] {line}\n")
            self._out.flush()
            self._last_line, self._last_line_at = line, now

    def note(self, line: str, at: float) -> None:
        """A line about something that happened at ``at`` (epoch seconds) inside the execution, from any
        thread (a handler's warning): said at the next tick, among the states, in the order they happened."""
        with self._lock:
            self._notes.append((at, line))

    def tick(self) -> None:
        with self._lock:
            notes, self._notes = sorted(self._notes), []
        for event in self._new_events():
            happened = event.get("timestamp")
            while notes and happened is not None and notes[0][0] < happened.timestamp():
                self.say(notes.pop(0)[1], repeat=True)  # each is an event of its own
            if self._downloading and event["type"] == "MapStateExited":
                self._downloads(final=True)  # the final count before the states that follow the map
                self._downloading = False
            self._event(event)
        for _, line in notes:
            self.say(line, repeat=True)
        if self._downloading:
            self._downloads()
        self._heartbeat()

    def _heartbeat(self) -> None:
        now = self._clock()
        if now - self._last_line_at < QUIET_SECONDS:
            return
        if self._downloading:
            self.say(self._meter.read().line(), repeat=True)
            self._download_line_at = now
        elif self._busy is not None and now - self._busy[1] >= QUIET_SECONDS:
            name, since = self._busy
            self.say(f"{name}: under way for {now - since:.0f} s", repeat=True)

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

    def _downloads(self, final: bool = False) -> None:
        if not self._file_count:
            return
        status = self._meter.read()
        now = self._clock()
        if final or status.landed != self._landed or now - self._download_line_at >= PACE_SECONDS:
            self._landed = status.landed
            self._download_line_at = now
            self.say(status.line())

    def _event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            details = event["stateEnteredEventDetails"]
            name = details["name"]
            self._busy = None if kind == "WaitStateEntered" else (name, self._clock())
            if kind == "WaitStateEntered" and name not in _UNNAMED:
                state = json.loads(details.get("input") or "{}")
                self.say(f"{name}: {_wait_of(state, name)} s")
            elif name not in _UNNAMED and not (name in _SAID_ONCE and name in self._said):
                self._said.add(name)
                self.say(name)
        elif kind.endswith("StateExited"):
            self._busy = None
            details = event["stateExitedEventDetails"]
            output = json.loads(details.get("output") or "{}")
            if details["name"] == "Start run":
                run = output.get("run", {})
                self._source, self._run_id = run.get("source"), run.get("run_id")
            elif details["name"] == "Check export status":
                self._polled(output.get("poll", {}))
            elif details["name"] == "Kick off export":
                job = output.get("job", {})
                if job.get("status") == "throttled":
                    self.say(f"the server is busy (429): kicking off again in {job.get('wait_seconds')} s")

    def _polled(self, poll: dict[str, Any]) -> None:
        if poll.get("state") == "complete":
            file_count = int(poll.get("file_count") or 0)
            self.say(f"export complete: {file_count} files")
            if self._source and self._run_id and file_count:
                self._meter.start(self._source, self._run_id, file_count, poll.get("files_key"))
                self._file_count, self._downloading = file_count, True
        elif poll.get("progress") and poll["progress"] != self._progress:
            # One line per change of what the server says, not per poll (a 30-hour AB2D export is polled
            # hundreds of times); the wait says when the next line may come at the earliest.
            self._progress = poll["progress"]
            self.say(
                f"export in progress: {poll['progress']} (poll {poll.get('polls', '?')}; "
                f"next in {poll.get('wait_seconds', '?')} s)"
            )


def _wait_of(state: dict[str, Any], name: str) -> Any:
    """The seconds a Wait state waits, from its input (the key the step before wrote)."""
    if name == "Wait before downloading again":
        return (state.get("result") or {}).get("wait_seconds")
    for key in ("poll", "job", "auth"):
        if isinstance(state.get(key), dict) and "wait_seconds" in state[key]:
            return state[key]["wait_seconds"]
    return "?"
