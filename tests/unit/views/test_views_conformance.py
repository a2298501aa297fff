"""The official SQL on FHIR v2 test suite, every case through the engine (the suite's README says
how rows compare: an unordered multiset, exact keys, numbers by value, an empty collection []).

The suite is not copied into the project: it is read from ``shared/sql-on-fhir-v2-tests/`` beside
the checkout (CI has ``../shared``; a git worktree under ``wt/`` finds it one level further up).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from views import ViewError, compile_view, load_view

ROOT = Path(__file__).resolve().parents[3]
SHAREABLE, EXPERIMENTAL = 123, 11


def _suite_dir() -> Path:
    for folder in ROOT.parents:
        candidate = folder / "shared" / "sql-on-fhir-v2-tests"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"shared/sql-on-fhir-v2-tests/ not found beside {ROOT} or above it")


def _cases() -> list[Any]:
    cases = []
    for path in sorted(_suite_dir().glob("*.json")):
        suite = json.loads(path.read_text(encoding="utf-8"))
        for test in suite["tests"]:
            cases.append(pytest.param(suite["resources"], test, id=f"{path.stem}:{test['title']}"))
    return cases


CASES = _cases()


def _canonical(row: dict[str, Any]) -> str:
    def value(v: Any) -> Any:
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, int | float):
            return float(v)
        if isinstance(v, list):
            return [value(item) for item in v]
        return v

    return json.dumps({key: value(v) for key, v in row.items()}, sort_keys=True)


def test_the_suite_is_complete() -> None:
    experimental = sum(1 for case in CASES if "experimental" in case.values[1].get("tags", []))
    assert (len(CASES) - experimental, experimental) == (SHAREABLE, EXPERIMENTAL)


@pytest.mark.parametrize(("resources", "test"), CASES)
def test_case(resources: list[dict[str, Any]], test: dict[str, Any]) -> None:
    if test.get("expectError"):
        with pytest.raises(ViewError):
            view = compile_view(load_view(test["view"]))
            list(view.evaluate(resources))
        return
    view = compile_view(load_view(test["view"]))
    rows = list(view.evaluate(resources))
    assert sorted(map(_canonical, rows)) == sorted(map(_canonical, test["expect"]))
    for row in rows:
        assert list(row) == [column.name for column in view.columns]
    if "expectColumns" in test:
        assert [column.name for column in view.columns] == test["expectColumns"]
