"""Wait and Retry in moto's Step Functions engine, and the handlers' own pauses, made fast and observable.

Wait states and retry back-offs really sleep in moto, and a handler pauses in its own time through
``Deps.sleep`` (a broken download backs off before it resumes). Here every requested pause is
recorded; it then lasts ``seconds * scale`` (0 against the built-in emulator, whose clock is moved
forward by the same amount through ``on_wait``, so that what the server sees matches what the state
machine and the handlers asked for; 1 against a real server). A handler's pause also counts against
its invocation's time, as it would in Lambda (``monotonic``, read by the local Lambda context).

``hold()`` makes Wait states last until ``release()`` (or until their execution is stopped), so a
test can act on an execution while it is known to sit in a Wait state, whatever the machine's load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from types import SimpleNamespace
from typing import Any
from unittest import mock

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

from ingest import wiring


class Clockwork:
    def __init__(self, scale: float = 0.0, on_wait: Callable[[float], None] | None = None) -> None:
        self.scale = scale
        self.on_wait = on_wait
        self.waits: list[float] = []
        self.retry_sleeps: list[float] = []
        #: the handlers' own pauses (``Deps.sleep``)
        self.pauses: list[float] = []
        self._lock = threading.Lock()
        self._skipped = threading.local()  # seconds this thread was spared: its clock runs ahead by them
        self._released = threading.Event()
        self._released.set()
        #: set while a held Wait state is waiting
        self.holding = threading.Event()

    def hold(self) -> None:
        """From now on, Wait states wait until release() (or their execution is stopped)."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def _held(self, env: Any) -> None:
        self.holding.set()
        try:
            # moto pulses program_state_event (set, then clear) when the execution is stopped: ask the
            # environment whether it still runs rather than trusting the event to stay set.
            while not self._released.is_set() and env.is_running():
                env.program_state_event.wait(0.01)
        finally:
            self.holding.clear()

    def _wait(self, seconds: float, interruptible: Any = None) -> None:
        if self.on_wait is not None:
            self.on_wait(seconds)
        if seconds > 0:
            self._skipped.seconds = self._spared() + seconds * (1 - min(self.scale, 1.0))
        if self.scale > 0 and seconds > 0:
            if interruptible is not None:
                interruptible.wait(seconds * self.scale)
            else:
                time.sleep(seconds * self.scale)

    def _spared(self) -> float:
        return float(getattr(self._skipped, "seconds", 0.0))

    def sleep(self, seconds: float) -> None:
        """A handler's pause (``Deps.sleep``): recorded, and fast-forwarded like a Wait state."""
        with self._lock:
            self.pauses.append(float(seconds))
        self._wait(float(seconds))

    def monotonic(self) -> float:
        """``time.monotonic()`` as this thread lives it: ahead by the seconds its pauses were spared, so
        that a fast-forwarded pause still uses up a handler's time, as the real one would in Lambda."""
        return time.monotonic() + self._spared()

    def patch(self) -> ExitStack:
        clockwork = self
        stack = ExitStack()

        def wait_interval(_self: WaitFunction, env: Any, wait_seconds: int) -> None:
            with clockwork._lock:
                clockwork.waits.append(float(wait_seconds))
            if not clockwork._released.is_set():
                clockwork._held(env)
            clockwork._wait(float(wait_seconds), env.program_state_event)

        def retry_sleep(seconds: float) -> None:
            with clockwork._lock:
                clockwork.retry_sleeps.append(float(seconds))
            clockwork._wait(float(seconds))

        real_build_deps = wiring.build_deps

        def build_deps(settings: Any) -> wiring.Deps:
            return replace(real_build_deps(settings), sleep=clockwork.sleep)

        stack.enter_context(mock.patch.object(WaitFunction, "_wait_interval", wait_interval))
        stack.enter_context(mock.patch.object(retrier_decl, "time", SimpleNamespace(sleep=retry_sleep)))
        # the container the handlers build (ingest.wiring.container) is built with these pauses
        stack.enter_context(mock.patch.object(wiring, "build_deps", build_deps))
        return stack
