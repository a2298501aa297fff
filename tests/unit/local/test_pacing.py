"""What a local run prints while it works after the execution (the state save, the copy into --out, the
claims summary in a DuckDB child) and what the handlers warn about: lines, in the progress's own
format, on a fake clock."""

from __future__ import annotations

import io
import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest

from local.follow import Progress
from local.runner.handler_warnings import handler_warnings_to
from local.runner.pacing import PACE_SECONDS, Pacer, paced_bytes, while_running
from tests.support.execution_history import History, NoTable


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_a_summary_that_takes_20_seconds_says_so_at_least_every_5_seconds():
    clock, said = FakeClock(), []
    release = threading.Event()

    def summary() -> str:  # a child process that answers when it answers
        release.wait(30)
        return "claims: 3 versions seen"

    def waited(done: threading.Event, seconds: float) -> None:
        done.wait(0.01)
        clock.now += seconds
        if clock.now - 50 >= 20:
            release.set()

    line = while_running(summary, said.append, "summarising the claims", clock=clock, wait=waited)
    assert line == "claims: 3 versions seen"
    assert said[0] == "summarising the claims"
    assert said[1:4] == [f"summarising the claims: {s} s so far" for s in (5, 10, 15)]


def test_work_that_fails_raises_in_the_callers_thread():
    def broken() -> str:
        raise RuntimeError("the child died")

    with pytest.raises(RuntimeError, match="the child died"):
        while_running(broken, lambda _line: None, "summarising the claims")


def test_a_loop_of_small_steps_says_where_it_is_every_5_seconds_only():
    clock, said = FakeClock(), []
    pace = Pacer(said.append, clock)
    for step in range(1, 101):  # a step every 0.5 s
        clock.now += 0.5
        pace(lambda step=step: f"{step} objects so far")
    assert said == [f"{step} objects so far" for step in range(10, 101, int(PACE_SECONDS / 0.5))]


def test_copying_one_big_object_says_how_far_it_has_come_every_5_seconds():
    clock, said = FakeClock(), []
    on_bytes = paced_bytes(said.append, lambda n: f"{n // 1_000_000} MB copied so far", clock)
    for _ in range(22):  # boto3's transfer calls back with each chunk it wrote: here 1 MB a second
        clock.now += 1
        on_bytes(1_000_000)
    assert said == [f"{mb} MB copied so far" for mb in (5, 10, 15, 20)]


def test_a_handlers_warning_is_a_progress_line_with_its_timestamp_and_indent_in_the_order_it_happened():
    clock, out, history = FakeClock(), io.StringIO(), History()
    progress = Progress(history, NoTable(), "arn:execution", out, clock=clock, started=20.0)
    with handler_warnings_to(progress.note):
        history.add("TaskStateEntered", "Kick off export")
        history.events[-1]["timestamp"] = datetime.now(UTC) - timedelta(seconds=1)
        logging.getLogger("ingest.services.kick_off").warning("the server gave out a job URL %s", "again")
        logging.getLogger("bulkfhir.client").info("not a warning: the log file has it")
        logging.getLogger("ingest.services.download_file").warning("the checkpoint is gone", extra={"index": 3})
        logging.getLogger("ingest.services.download_file").warning("the checkpoint is gone", extra={"index": 3})
        history.add("TaskStateEntered", "Check export status")  # a moment later
        history.events[-1]["timestamp"] = datetime.now(UTC) + timedelta(seconds=1)
        progress.tick()
    logging.getLogger("ingest.services.file_transfer").warning("after the run: not a progress line")
    progress.tick()
    assert out.getvalue().splitlines() == [
        "  [  30.0 s] Kick off export",
        "  [  30.0 s] the server gave out a job URL again",
        "  [  30.0 s] the checkpoint is gone (file #3)",
        "  [  30.0 s] the checkpoint is gone (file #3)",  # twice: two events
        "  [  30.0 s] Check export status",
    ]
