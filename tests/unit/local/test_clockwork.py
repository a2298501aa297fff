"""A local run fast-forwards the handlers' own pauses as it does Wait states: the emulator's clock
moves by as much, and the pause still uses up the invocation's time (local/runner/clockwork.py)."""

from __future__ import annotations

import ast
import threading
import time
from pathlib import Path

from ingest import wiring
from local.emulator.clock import Clock
from local.runner.clockwork import Clockwork
from local.runner.lambdas import LambdaContext


def test_a_handler_pause_moves_the_emulator_clock_and_uses_up_the_invocation_time() -> None:
    emulator_clock = Clock()
    clockwork = Clockwork(scale=0.0, on_wait=emulator_clock.advance)
    context = LambdaContext("download", 1024, 900.0, "arn:function", clock=clockwork.monotonic)
    before = context.get_remaining_time_in_millis()

    clockwork.sleep(12.0)

    assert clockwork.pauses == [12.0]
    assert emulator_clock.offset_seconds == 12.0
    assert before - context.get_remaining_time_in_millis() >= 12_000
    ahead: list[float] = []
    other = threading.Thread(target=lambda: ahead.append(clockwork.monotonic() - time.monotonic()))
    other.start()
    other.join()
    assert ahead[0] <= 0.0  # another invocation's thread was spared nothing


def test_the_handlers_container_pauses_through_the_clockwork_while_patched(monkeypatch) -> None:
    deps = wiring.Deps(settings=None, store=None, landing=None, events=None, clients=None, executions=None)  # type: ignore[arg-type]
    monkeypatch.setattr(wiring, "build_deps", lambda settings: deps)
    clockwork = Clockwork(scale=0.0)
    with clockwork.patch():
        assert wiring.build_deps(None).sleep == clockwork.sleep  # type: ignore[arg-type]
    assert wiring.build_deps(None).sleep is time.sleep  # type: ignore[arg-type]  # what AWS runs


def test_the_lambda_code_pauses_only_through_deps_sleep() -> None:
    """A pause anywhere else would take real time in every local run (the soak's downloads-keep-failing
    runs took 60-120 s each when the download's back-off called time.sleep itself)."""
    root = Path(__file__).resolve().parents[3] / "lambdas"
    sleepers = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            called = isinstance(node, ast.Attribute) and (getattr(node.value, "id", ""), node.attr) == ("time", "sleep")
            imported = isinstance(node, ast.ImportFrom) and node.module == "time"
            if called or (imported and "sleep" in {alias.name for alias in node.names}):
                sleepers.add(str(path.relative_to(root)))
    assert sleepers == {"ingest/wiring.py"}  # Deps.sleep's default: what AWS runs
