"""A growing execution history, paged as AWS's GetExecutionHistory pages it, for following tests."""

from __future__ import annotations

from typing import Any

from local.runner.fidelity import history_page


class History:
    """A Step Functions client's GetExecutionHistory over a growing history, as AWS pages it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.calls = 0
        self.read = 0  # events returned, all calls

    def add(self, kind: str, name: str, **details: Any) -> None:
        key = "stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"
        self.events.append({"id": len(self.events) + 1, "type": kind, key: {"name": name, **details}})

    def get_execution_history(self, executionArn: str, **kwargs: Any) -> dict[str, Any]:
        page, token = history_page(self.events, kwargs.get("maxResults"), kwargs.get("reverseOrder", False),
                                   kwargs.get("nextToken"))  # fmt: skip
        self.calls += 1
        self.read += len(page)
        return {"events": page, "nextToken": token} if token else {"events": page}


class NoTable:
    def query(self, **_: Any) -> dict[str, int]:
        raise AssertionError("no file count is known: the table is not read")
