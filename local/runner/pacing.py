"""Lines about long work after the execution (saving the state, copying into --out, the claims
summary), so that no stretch of it passes without a line for more than :data:`PACE_SECONDS` or so."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

#: How often a line about work still under way comes.
PACE_SECONDS = 5.0

T = TypeVar("T")


class Pacer:
    """``pace(lambda: "text")`` says the text when :data:`PACE_SECONDS` have passed since the last
    line it said (or since it was made): a loop over many small steps says where it is, seldom."""

    def __init__(self, say: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self._say, self._clock = say, clock
        self._last = clock()
        self._lock = threading.Lock()  # boto3's transfer threads call it too

    def __call__(self, line: Callable[[], str]) -> None:
        with self._lock:
            now = self._clock()
            if now - self._last < PACE_SECONDS:
                return
            self._last = now
        self._say(line())


def paced_bytes(
    say: Callable[[str], None], line: Callable[[int], str], clock: Callable[[], float] = time.monotonic
) -> Callable[[int], None]:
    """A ``Callback`` for boto3's transfers (called from their threads with the bytes just moved) that
    says ``line(bytes so far)`` every :data:`PACE_SECONDS`: a copy of one big object says where it is."""
    pace, lock, moved = Pacer(say, clock), threading.Lock(), [0]

    def on_bytes(count: int) -> None:
        with lock:
            moved[0] += count
            total = moved[0]
        pace(lambda: line(total))

    return on_bytes


def _wait(done: threading.Event, seconds: float) -> None:
    done.wait(seconds)


def while_running(
    work: Callable[[], T],
    say: Callable[[str], None],
    what: str,
    *,
    clock: Callable[[], float] = time.monotonic,
    wait: Callable[[threading.Event, float], None] = _wait,
) -> T:
    """``work()``'s result; while it runs (one call that says nothing, such as a child process),
    "<what>: N s so far" every :data:`PACE_SECONDS`."""
    done = threading.Event()
    outcome: dict[str, T] = {}
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome["result"] = work()
        except BaseException as error:
            failure.append(error)
        finally:
            done.set()

    started = clock()
    say(what)
    threading.Thread(target=run, name=what, daemon=True).start()
    pace = Pacer(say, clock)
    while not done.is_set():
        wait(done, PACE_SECONDS)
        if not done.is_set():
            pace(lambda: f"{what}: {clock() - started:.0f} s so far")
    if failure:
        raise failure[0]
    return outcome["result"]
