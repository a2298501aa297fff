"""Following an execution reads only what is new: a tick costs the same after hours of polling as
after a minute, and prints the same progress as before."""

from __future__ import annotations

import io
import json

from local.follow import PAGE, Progress
from local.runner.fidelity import history_page
from tests.support.execution_history import History, NoTable


def _poll(history: History, percent: float, wait: int) -> None:
    """The events of one status poll that finds the export still running, then its wait."""
    history.add("TaskStateEntered", "Check export status")
    polls = sum(1 for event in history.events if event["type"] == "TaskStateExited") + 1
    output = {"poll": {"state": "in_progress", "progress": f"RUNNING: {percent:.2f}%", "wait_seconds": wait,
                       "polls": polls}}  # fmt: skip
    history.add("TaskStateExited", "Check export status", output=json.dumps(output))
    history.add("ChoiceStateEntered", "Export complete?")
    history.add("ChoiceStateExited", "Export complete?")
    history.add("WaitStateEntered", "Wait for the export", input=json.dumps(output))
    history.add("WaitStateExited", "Wait for the export")


def test_a_tick_reads_one_page_however_long_the_history_has_grown():
    history, out = History(), io.StringIO()
    progress = Progress(history, NoTable(), "arn:execution", out)
    history.add("TaskStateEntered", "Start run")
    progress.tick()
    per_tick = []
    for poll in range(1000):  # a 30-hour AB2D export polled every 2 minutes: 6,000 events
        _poll(history, poll / 10, 120)
        calls, read = history.calls, history.read
        progress.tick()
        per_tick.append((history.calls - calls, history.read - read))
    assert len(history.events) == 6001
    assert {calls for calls, _ in per_tick} == {1}
    assert {read for _, read in per_tick[10:]} == {PAGE}  # the last tick costs what the tenth did
    # (reading the whole history at every tick, as before, read 3 million events)
    assert history.read <= len(history.events) + 1001 * PAGE
    lines = out.getvalue().splitlines()
    assert "Start run" in lines[0] and "Check export status" in lines[1]
    assert "export in progress: RUNNING: 99.90% (poll " in lines[-1] and len(lines) == 2 + 1000


def test_a_burst_larger_than_a_page_is_read_whole_and_in_order():
    history, out = History(), io.StringIO()
    progress = Progress(history, NoTable(), "arn:execution", out)
    history.add("TaskStateEntered", "Start run")
    progress.tick()
    for poll in range(3 * PAGE):  # more new events than three pages hold
        _poll(history, poll, 5)
    calls, read = history.calls, history.read
    progress.tick()
    new = 6 * 3 * PAGE
    assert history.read - read <= new + PAGE and history.calls - calls == new // PAGE + 1
    shown = [line.split("] ", 1)[1].split(" (poll")[0] for line in out.getvalue().splitlines() if "in progress" in line]
    assert shown == [f"export in progress: RUNNING: {poll:.2f}%" for poll in range(3 * PAGE)]

    calls = history.calls
    progress.tick()  # nothing new
    assert history.calls - calls == 1 and len(out.getvalue().splitlines()) == 2 + 3 * PAGE


def test_a_30_hour_export_says_each_change_of_the_servers_progress_once_not_each_poll():
    # AB2D reports whole percents: a 30-hour job polled every 2-10 minutes says "12% complete" many times
    history, out = History(), io.StringIO()
    progress = Progress(history, NoTable(), "arn:execution", out)
    history.add("TaskStateEntered", "Start run")
    percents = [min(99, poll // 3) for poll in range(300)]
    for percent in percents:
        _poll(history, percent, 600)
        progress.tick()
    said = [line.split("] ", 1)[1] for line in out.getvalue().splitlines()]
    assert said[:2] == ["Start run", "Check export status"]
    progress_lines = [line for line in said[2:] if line.startswith("export in progress: ")]
    assert len(said) == 2 + len(progress_lines) == 2 + len(set(percents))  # 100 lines for 300 polls
    assert progress_lines[1] == "export in progress: RUNNING: 1.00% (poll 4; next in 600 s)"


def test_history_pages_are_those_of_aws():
    events = list(range(1, 11))
    assert history_page(events, 4, False, None) == ([1, 2, 3, 4], "4")
    assert history_page(events, 4, False, "8") == ([9, 10], None)
    assert history_page(events, 4, True, None) == ([10, 9, 8, 7], "6")
    assert history_page(events, 4, True, "2") == ([2, 1], None)
    assert history_page(events, None, False, None) == (events, None)  # 100 by default
    assert history_page([], 4, True, None) == ([], None)


def test_a_long_task_says_it_is_under_way_and_a_wait_is_quiet():
    now = [0.0]
    history, out = History(), io.StringIO()
    progress = Progress(history, NoTable(), "arn:execution", out, clock=lambda: now[0])
    history.add("WaitStateEntered", "Wait for the export", input=json.dumps({"poll": {"wait_seconds": 600}}))
    for _ in range(30):  # half a minute in a Wait state: nothing to say
        now[0] += 1
        progress.tick()
    assert progress.waiting and out.getvalue() == ""
    history.add("WaitStateExited", "Wait for the export")
    history.add("TaskStateEntered", "Finalize run")
    for _ in range(25):  # a task that takes 25 s: a line after 8 s of silence, then every 8 s or so
        now[0] += 1
        progress.tick()
    assert [line.split("] ", 1)[1] for line in out.getvalue().splitlines()] == [
        "Finalize run", "Finalize run: under way for 8 s", "Finalize run: under way for 16 s",
        "Finalize run: under way for 24 s",
    ]  # fmt: skip
